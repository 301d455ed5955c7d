import { z } from 'zod';
import { estateSchema } from './estate';
import { rosterShape } from './roster';

/** JSON Schemas of the input files, by file name under assets/. Deterministic text. */
export function renderJsonSchemas(): Record<string, string> {
  const render = (schema: z.ZodType, title: string) =>
    `${JSON.stringify({ ...z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }), title }, null, 2)}\n`;
  return {
    'roster.schema.json': render(rosterShape, 'webide-estate roster (assets/roster.yaml)'),
    'estate.schema.json': render(estateSchema, 'webide-estate estate config (assets/estate.yaml)'),
  };
}
