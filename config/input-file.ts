import * as fs from 'fs';
import { InputFile } from './load';
import { ConfigError } from './source';

/** Reads an input file for validation; a file that cannot be read is a ConfigError naming it as the user did. */
export function readInputFile(file: string): InputFile {
  try {
    return { file, text: fs.readFileSync(file, 'utf8') };
  } catch (error) {
    throw new ConfigError([{ file, line: 1, col: 1, path: '', message: `cannot read file: ${(error as NodeJS.ErrnoException).code ?? error}` }]);
  }
}
