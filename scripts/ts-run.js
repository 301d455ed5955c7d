#!/usr/bin/env node
// Runs a TypeScript entry point of this repo with plain node: `node scripts/ts-run.js main.ts`.
// It is what `cdktf synth` runs (cdktf.json "app").
//
// Every .ts file is transpiled the way `ts-node --transpile-only` does (tsconfig.json's options,
// no type-check) and the result is kept in .work/ts-cache/, named by a sha256 of the file's path
// and text, tsconfig.json's text and the TypeScript version. An edited file therefore always gets
// a new name and is transpiled again; an unchanged one is read back, and TypeScript itself is
// loaded only when something has to be transpiled. No compiled output is ever used for a source
// it was not made from. A .js file next to a .ts file of this repo (left by an in-tree `tsc`) is
// never loaded in its place.
//
// Why not ts-node: it transpiles every file on every run and installs source-map-support, which
// maps every stack trace it formats; cdktf formats a full stack trace for every token it creates,
// so under ts-node most of a large synth went into source-mapping those traces (see bench/results.md).
// Stack traces here name the .ts files with the lines of the transpiled code; run with
// NODE_OPTIONS=--enable-source-maps to map them back to the TypeScript lines (slower).
'use strict';

const crypto = require('crypto');
const fs = require('fs');
const Module = require('module');
const path = require('path');

const ROOT = path.resolve(__dirname, '..');
const CACHE_DIR = process.env.TS_RUN_CACHE_DIR || path.join(ROOT, '.work', 'ts-cache');
const TSCONFIG = path.join(ROOT, 'tsconfig.json');
const NODE_MODULES = `${path.sep}node_modules${path.sep}`;

const tsVersion = require(require.resolve('typescript/package.json', { paths: [ROOT] })).version;
const tsconfigText = fs.readFileSync(TSCONFIG, 'utf8');

let compilerOptions; // parsed on the first miss only: that is when TypeScript is loaded
function transpile(source, filename) {
  const ts = require(require.resolve('typescript', { paths: [ROOT] }));
  if (!compilerOptions) {
    const { config, error } = ts.readConfigFile(TSCONFIG, ts.sys.readFile);
    if (error) throw new Error(`${TSCONFIG}: ${ts.flattenDiagnosticMessageText(error.messageText, '\n')}`);
    compilerOptions = ts.parseJsonConfigFileContent(config, ts.sys, ROOT).options;
  }
  return ts.transpileModule(source, { compilerOptions, fileName: filename, reportDiagnostics: false }).outputText;
}

function compiled(source, filename) {
  const key = crypto.createHash('sha256').update([tsVersion, tsconfigText, filename, source].join('\0')).digest('hex');
  const cached = path.join(CACHE_DIR, `${key}.js`);
  try {
    return fs.readFileSync(cached, 'utf8');
  } catch {
    // not transpiled yet
  }
  const output = transpile(source, filename);
  try {
    // Written under a temporary name and renamed: parallel runs never read half a file.
    fs.mkdirSync(CACHE_DIR, { recursive: true });
    const partial = `${cached}.${process.pid}.tmp`;
    fs.writeFileSync(partial, output);
    fs.renameSync(partial, cached);
  } catch {
    // A read-only checkout still runs; it just transpiles again next time.
  }
  return output;
}

function loadTs(module, filename) {
  module._compile(compiled(fs.readFileSync(filename, 'utf8'), filename), filename);
}

Module._extensions['.ts'] = loadTs;
const loadJs = Module._extensions['.js'];
Module._extensions['.js'] = (module, filename) => {
  const ts = filename.slice(0, -3) + '.ts';
  if (filename.startsWith(ROOT + path.sep) && !filename.includes(NODE_MODULES) && fs.existsSync(ts)) return loadTs(module, ts);
  return loadJs(module, filename);
};

const [entry, ...args] = process.argv.slice(2);
if (!entry) {
  process.stderr.write('usage: node scripts/ts-run.js <file.ts> [args…]\n');
  process.exit(2);
}
const main = path.resolve(entry);
process.argv = [process.argv[0], main, ...args];
Module.runMain(main);
