#!/usr/bin/env python3
"""Builds STAND-IN VS Code extensions (VSIX files), byte for byte reproducibly.

    python3 images/ide/standin-vsix.py OUT_DIR [publisher.name@version ...]

The AI extensions' real VSIXs (Continue, Tabby) cannot be downloaded on the test machines
(no marketplace, no GitHub), so the e2e tier's IDE image installs stand-ins built here. The
publisher must be `webide-standin`, so that nobody mistakes one for the real thing. With no
id, builds the e2e estate's stand-in, webide-standin.ai-standin@1.0.0.

Each VSIX is written as OUT_DIR/<publisher.name>-<version>.vsix and one line
`<sha256>  <file name>` is printed per VSIX. Same arguments, same bytes: fixed entry order,
fixed timestamps and modes, no compression (so the zlib version does not matter either).
Only Python's standard library is used.
"""
import hashlib
import json
import os
import re
import sys
import zipfile

PUBLISHER = 'webide-standin'
DEFAULT = f'{PUBLISHER}.ai-standin@1.0.0'
EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can carry
ID_VERSION = re.compile(r'^([a-z0-9][a-z0-9-]*)\.([a-z0-9][a-z0-9-]*)@(\d+\.\d+\.\d+)$')


def files_of(publisher: str, name: str, version: str) -> list:
    """(path in the VSIX, text) in the order they are written."""
    package = {
        'name': name,
        'displayName': f'STAND-IN {name} (webide-estate tests; not a real extension)',
        'description': 'Stand-in for an AI extension whose real VSIX the test machine cannot download. '
        'Built by images/ide/standin-vsix.py. Does nothing.',
        'publisher': publisher,
        'version': version,
        'license': 'UNLICENSED',
        'engines': {'vscode': '^1.80.0'},
        'categories': ['Other'],
        'activationEvents': [],
        'main': './extension.js',
    }
    manifest = f'''<?xml version="1.0" encoding="utf-8"?>
<PackageManifest Version="2.0.0" xmlns="http://schemas.microsoft.com/developer/vsx-schema/2011" xmlns:d="http://schemas.microsoft.com/developer/vsx-schema-design/2011">
  <Metadata>
    <Identity Language="en-US" Id="{name}" Version="{version}" Publisher="{publisher}" />
    <DisplayName>{package['displayName']}</DisplayName>
    <Description xml:space="preserve">{package['description']}</Description>
    <Categories>Other</Categories>
    <GalleryFlags>Public</GalleryFlags>
    <Properties>
      <Property Id="Microsoft.VisualStudio.Code.Engine" Value="{package['engines']['vscode']}" />
    </Properties>
  </Metadata>
  <Installation>
    <InstallationTarget Id="Microsoft.VisualStudio.Code" />
  </Installation>
  <Dependencies />
  <Assets>
    <Asset Type="Microsoft.VisualStudio.Code.Manifest" Path="extension/package.json" Addressable="true" />
  </Assets>
</PackageManifest>
'''
    content_types = '''<?xml version="1.0" encoding="utf-8"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension=".json" ContentType="application/json" /><Default Extension=".js" ContentType="application/javascript" /><Default Extension=".vsixmanifest" ContentType="text/xml" /></Types>
'''
    extension_js = ('// STAND-IN extension (webide-estate tests): activates and does nothing.\n'
                    "'use strict';\nexports.activate = function () {};\nexports.deactivate = function () {};\n")
    return [
        ('[Content_Types].xml', content_types),
        ('extension.vsixmanifest', manifest),
        ('extension/package.json', json.dumps(package, indent=2, sort_keys=True) + '\n'),
        ('extension/extension.js', extension_js),
    ]


def build(out_dir: str, spec: str) -> str:
    match = ID_VERSION.match(spec)
    if not match:
        sys.exit(f'standin-vsix: {spec!r} is not publisher.name@x.y.z')
    publisher, name, version = match.groups()
    if publisher != PUBLISHER:
        sys.exit(f'standin-vsix: {spec!r}: a stand-in\'s publisher must be {PUBLISHER}')
    path = os.path.join(out_dir, f'{publisher}.{name}-{version}.vsix')
    with open(path, 'wb') as raw, zipfile.ZipFile(raw, 'w', compression=zipfile.ZIP_STORED) as vsix:
        for entry, text in files_of(publisher, name, version):
            info = zipfile.ZipInfo(entry, date_time=EPOCH)
            info.create_system = 3  # unix, so the mode below is what is recorded
            info.external_attr = 0o100644 << 16
            vsix.writestr(info, text.encode('utf-8'))
    with open(path, 'rb') as written:
        return f'{hashlib.sha256(written.read()).hexdigest()}  {os.path.basename(path)}'


def main(argv: list) -> None:
    if not argv or argv[0] in ('-h', '--help'):
        sys.stdout.write(__doc__.split('\n\n')[1] + '\n')
        sys.exit(0 if argv else 2)
    out_dir, specs = argv[0], argv[1:] or [DEFAULT]
    os.makedirs(out_dir, exist_ok=True)
    for spec in specs:
        print(build(out_dir, spec))


if __name__ == '__main__':
    main(sys.argv[1:])
