/**
 * npm run schema — writes assets/roster.schema.json and assets/estate.schema.json from
 * the zod schemas, for editors (yaml-language-server). A unit test keeps them in sync.
 */
import * as fs from 'fs';
import * as path from 'path';
import { renderJsonSchemas } from '../config/json-schema';

for (const [name, text] of Object.entries(renderJsonSchemas())) {
  const target = path.join(__dirname, '..', 'assets', name);
  fs.writeFileSync(target, text);
  process.stdout.write(`wrote ${path.relative(process.cwd(), target)}\n`);
}
