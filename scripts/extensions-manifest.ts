/**
 * ts-node scripts/extensions-manifest.ts <estate.yaml>
 * Prints the IDE image's extension manifest (render/code-server.ts, renderExtensionManifest)
 * from the estate config's `extensions` list: the one list the image installs, checks and
 * allows. Every problem is printed as file:line:col: field: message. Exit 0 printed, 1 the
 * list is invalid or has an extension without a sha256, 2 bad arguments.
 */
import { readInputFile } from '../config/input-file';
import { loadPinnedExtensions } from '../config/load';
import { ConfigError } from '../config/source';
import { renderExtensionManifest } from '../render/code-server';

const USAGE = 'usage: ts-node scripts/extensions-manifest.ts <estate.yaml>';

function main(argv: string[]): number {
  if (argv.length !== 1 || argv[0].startsWith('-')) {
    process.stderr.write(`extensions-manifest: ${USAGE}\n`);
    return argv[0] === '-h' || argv[0] === '--help' ? 0 : 2;
  }
  try {
    process.stdout.write(renderExtensionManifest(loadPinnedExtensions(readInputFile(argv[0]))));
    return 0;
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`${error.message}\n${error.issues.length} problem(s) found.\n`);
    return 1;
  }
}

process.exitCode = main(process.argv.slice(2));
