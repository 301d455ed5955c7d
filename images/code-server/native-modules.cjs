// Prints the packages of lib/vscode whose native parts the image build compiles: every
// top-level, non-optional package the lockfile marks as having an install step, except
// Windows-only ones, @vscode/ripgrep (Debian's rg stands in; its postinstall downloads) and
// @parcel/watcher (its prebuilt Linux package is installed). Usage: node native-modules.cjs LOCKFILE
const lock = require(require('path').resolve(process.argv[2]));
for (const [path, p] of Object.entries(lock.packages)) {
  if (!path || !p.hasInstallScript || p.dev || p.optional) continue;
  if (path.split('node_modules/').length > 2) continue; // nested copies: none expected
  const name = path.replace(/^node_modules\//, '');
  if (/windows|ripgrep|^@parcel\/watcher$/.test(name)) continue;
  console.log(name);
}
