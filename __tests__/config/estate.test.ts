import { DEFAULT_SUBNETS, imageDigest, vsixFileName } from '../../config/estate';
import { cidrsOverlap, subnetPlan } from '../../config/subnets';
import { loadEstate, loadInputs } from '../../config/load';
import { ConfigError, formatIssue } from '../../config/source';
import { assetText, defaultEstate, estateErrors } from '../helpers/inputs';

const ESTATE = assetText('estate.yaml');

/** The default estate with one line replaced (the line must exist). */
function estateWith(search: string, replacement: string): string {
  expect(ESTATE).toContain(search);
  return ESTATE.replace(search, replacement);
}

describe('estate config validation', () => {
  it('accepts the embedded default estate and fills defaults', () => {
    const estate = loadEstate({ file: 'assets/estate.yaml', text: ESTATE });
    expect(estate.domain).toBe('ide.corp.example');
    expect(estate.workspaces.defaults).toEqual({ cpus: 2, memory: 4096, disk: 20480 });
    expect(estate.gpus).toMatchObject({ tabby: ['0'], vllm: ['1', '2'], allowSharing: false, runtime: 'nvidia' });
    expect(estate.litellm.logPrompts).toBe(false);
  });

  it('takes the operations settings with their defaults: audit retention, per-user AI limits, backups, the latency target', () => {
    const estate = loadEstate({ file: 'assets/estate.yaml', text: ESTATE });
    expect(estate.operations).toEqual({
      audit: { retentionDays: 400 },
      backup: { repository: '/srv/webide-backups', schedule: '02:00', keep: { daily: 7, weekly: 4, monthly: 12 } },
      aiLimits: { chat: { perMinute: 30, burst: 10 }, completion: { perMinute: 600, burst: 40 } },
      monitoring: { autocompleteP95Ms: 250, diskFreePercent: 10, litellmMetrics: true, scrapeIntervalSeconds: 30, serviceDownForMinutes: 2, autocompleteForMinutes: 10 },
    });
    const minimal = ESTATE.slice(0, ESTATE.indexOf('  backup:\n')) + '  backup: { repository: /srv/b }\n' + ESTATE.slice(ESTATE.indexOf('  # Per user, at the AI gateway'));
    expect(loadEstate({ file: 'estate.yaml', text: minimal }).operations.backup).toEqual({ repository: '/srv/b', schedule: '02:00', keep: { daily: 7, weekly: 4, monthly: 12 } });
  });

  it('fails on bad operations settings, naming the file, line and field of each, all at once', () => {
    const text = estateWith('    chat: { perMinute: 30, burst: 10 }', '    chat: { perMinute: 0, burst: 10 }')
      .replace('    retentionDays: 400\n', '    retentionDays: 0\n    forward: { host: "not a host", caFile: siem.pem }\n')
      .replace('    repository: /srv/webide-backups\n    schedule: "02:00"\n', '    repository: s3:bucket\n    schedule: "25:00"\n');
    const at = (search: string) => text.slice(0, text.indexOf(search)).split('\n').length;
    const err = (search: string, field: string, message: string) => expect.stringMatching(new RegExp(`^estate\\.yaml:${at(search)}:\\d+: operations\\.${field.replace(/\./g, '\\.')}: ${message}`));
    expect(estateErrors(text)).toEqual([
      err('retentionDays: 0', 'audit.retentionDays', 'Too small: expected number to be >=1'),
      err('forward: { host: "not', 'audit.forward.host', 'must be a DNS name'),
      err('forward: { host: "not', 'audit.forward.caFile', 'must be an absolute path'),
      err('repository: s3:bucket', 'backup.repository', 'must be an absolute path on the Docker host or a rest:https'),
      err('schedule: "25:00"', 'backup.schedule', 'must be a UTC time of day'),
      err('chat: { perMinute: 0', 'aiLimits.chat.perMinute', 'Too small'),
    ]);
  });

  it('fails on a GPU id that is not in the inventory', () => {
    const errors = estateErrors(estateWith('vllm: ["1", "2"]', 'vllm: ["1", "7"]'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^estate\.yaml:\d+:\d+: gpus\.vllm\.1: GPU '7' is not in gpus\.devices \(0, 1, 2, 3\)$/);
  });

  it('fails when Tabby and vLLM share a GPU, unless sharing is allowed', () => {
    const shared = estateWith('vllm: ["1", "2"]', 'vllm: ["0", "2"]');
    expect(estateErrors(shared)).toEqual([expect.stringMatching(/gpus\.vllm\.0: GPU '0' is also assigned to tabby/)]);
    expect(estateErrors(shared.replace('allowSharing: false', 'allowSharing: true'))).toEqual([]);
  });

  it.each([
    ['a moving tag', 'nginx:1.22.1-deb12', 'nginx:latest', "must not use the moving tag 'latest'"],
    ['no tag at all', 'nginx:1.22.1-deb12', 'nginx', 'must be pinned'],
    ['a malformed digest', 'nginx:1.22.1-deb12', 'nginx@sha256:abc', 'must be an image reference'],
  ])('fails on an image with %s', (_label, search, replacement, message) => {
    const errors = estateErrors(estateWith(search, replacement));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain(`images.nginx: ${message}`);
  });

  it('accepts a digest-pinned image and reads its digest', () => {
    const digest = `sha256:${'a'.repeat(64)}`;
    const text = estateWith('nginx:1.22.1-deb12', `nginx:1.22.1-deb12@${digest}`);
    expect(imageDigest(loadEstate({ file: 'estate.yaml', text }).images.nginx)).toBe(digest);
  });

  it('fails on defaults above the caps, an unknown key and a bad duration, all at once', () => {
    const text = estateWith('defaults: { cpus: 2, memory: 4g, disk: 20g }', 'defaults: { cpus: 12, memory: 4g, disk: 20g }')
      .replace('idleTimeout: 30m', 'idleTimeout: half an hour')
      .replace('litellm:\n', 'litellm:\n  logPrompt: true\n');
    const errors = estateErrors(text);
    expect(errors).toEqual([
      expect.stringMatching(/workspaces\.defaults\.cpus: default is above workspaces\.max\.cpus/),
      expect.stringMatching(/keycloak\.session\.idleTimeout: must be a duration/),
      expect.stringMatching(/litellm\.logPrompt: unknown key 'logPrompt'/),
    ]);
  });

  it('fails on a realm brute-force setting outside the safe range', () => {
    expect(estateErrors(estateWith('maxLoginFailures: 5', 'maxLoginFailures: 500'))).toEqual([
      expect.stringMatching(/keycloak\.bruteForce\.maxLoginFailures: Too big: expected number to be <=30/),
    ]);
  });

  describe('identity settings', () => {
    const events = '  events: { expirationDays: 90 }\n';
    const withDirectory = (directory: string, profile = 'production') =>
      estateWith(events, `${events}  directory: ${directory}\n`).replace('profile: production', `profile: ${profile}`);

    it('bounds the revocation window (default 5m, at most 15m) and refuses the master realm', () => {
      expect(loadEstate({ file: 'estate.yaml', text: estateWith('revocationWindow: 5m', 'revocationWindow: 2m') }).keycloak.session.revocationWindow).toBe('2m');
      expect(loadEstate({ file: 'estate.yaml', text: estateWith(', revocationWindow: 5m', '') }).keycloak.session.revocationWindow).toBe('5m');
      expect(estateErrors(estateWith('revocationWindow: 5m', 'revocationWindow: 1h'))).toEqual([expect.stringMatching(/:\d+:\d+: keycloak\.session\.revocationWindow: must be 15m or less/)]);
      expect(estateErrors(estateWith('revocationWindow: 5m', 'revocationWindow: 10s'))).toEqual([expect.stringMatching(/keycloak\.session\.revocationWindow: must be at least 30s/)]);
      expect(estateErrors(estateWith('realm: webide', 'realm: master'))).toEqual([expect.stringMatching(/keycloak\.realm: must not be 'master'/)]);
    });

    it('takes a directory with defaults; plain LDAP only in the local profile, and says why at the url', () => {
      const plain = '{ url: "ldap://ldap.corp.example", bindDn: "cn=kc,dc=corp", usersDn: "ou=people,dc=corp" }';
      const estate = loadEstate({ file: 'estate.yaml', text: withDirectory(plain.replace('ldap://', 'ldaps://')) });
      expect(estate.keycloak.directory).toMatchObject({ startTls: false, vendor: 'other', usernameAttribute: 'uid', uuidAttribute: 'entryUUID', userObjectClasses: ['inetOrgPerson'] });
      const text = withDirectory(plain);
      const line = text.slice(0, text.indexOf('directory:')).split('\n').length;
      expect(estateErrors(text)).toEqual([expect.stringMatching(new RegExp(`^estate.yaml:${line}:\\d+: keycloak\\.directory\\.url: plain LDAP sends the directory passwords in clear`))]);
      expect(estateErrors(withDirectory(plain.replace(' }', ', startTls: true }')))).toEqual([]);
      expect(estateErrors(withDirectory(plain, 'local'))).toEqual([]);
      expect(estateErrors(withDirectory('{ url: "http://x", bindDn: "cn=kc", usersDn: "ou=p" }'))).toEqual([expect.stringMatching(/keycloak\.directory\.url/)]);
    });
  });

  it('reports estate and roster errors together when both files are wrong', () => {
    const badEstate = { file: 'estate.yaml', text: estateWith('vllm: ["1", "2"]', 'vllm: ["9"]') };
    const badRoster = { file: 'roster.yaml', text: 'users:\n  - { username: Bob, email: b@corp.example, name: B }\n' };
    try {
      loadInputs(badEstate, badRoster);
      throw new Error('expected a ConfigError');
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      const lines = (error as ConfigError).issues.map(formatIssue);
      expect(lines).toEqual([
        expect.stringMatching(/^estate\.yaml:\d+:\d+: gpus\.vllm\.0: GPU '9' is not in gpus\.devices/),
        expect.stringMatching(/^roster\.yaml:2:7: users\.Bob\.username: must be a lowercase DNS label/),
      ]);
    }
  });

  describe('extensions', () => {
    const HASH = 'a'.repeat(64);
    const start = ESTATE.indexOf('extensions:\n');
    const end = ESTATE.indexOf('\nkeycloak:');
    /** The default estate with its extension list replaced by these lines (under `extensions:`). */
    const withExtensions = (...lines: string[]) => `${ESTATE.slice(0, start)}extensions:\n${lines.map((l) => `  ${l}\n`).join('')}${ESTATE.slice(end)}`;
    const lineOf = (text: string, search: string) => text.slice(0, text.indexOf(search)).split('\n').length;

    it('the sample lists Continue and Tabby without inventing hashes: each says why its sha256 is pending', () => {
      const estate = loadEstate({ file: 'estate.yaml', text: ESTATE });
      expect(estate.extensions.map((e) => [e.id, e.version, e.sha256, vsixFileName(e)])).toEqual([
        ['continue.continue', '1.2.10', undefined, 'continue.continue-1.2.10.vsix'],
        ['tabbyml.vscode-tabby', '1.30.0', undefined, 'tabbyml.vscode-tabby-1.30.0.vsix'],
      ]);
      for (const ext of estate.extensions) expect(ext.sha256Pending).toMatch(/mirror/);
    });

    it('accepts a hash-pinned extension; the VSIX file name defaults to <id>-<version>.vsix', () => {
      const estate = loadEstate({ file: 'estate.yaml', text: withExtensions(`- { id: acme.tool, version: 2.0.1, sha256: ${HASH} }`) });
      expect(estate.extensions).toEqual([{ id: 'acme.tool', version: '2.0.1', sha256: HASH }]);
      expect(vsixFileName(estate.extensions[0])).toBe('acme.tool-2.0.1.vsix');
    });

    it.each([
      ['too short', 'abc123', 'must be the 64 lowercase hex digits that sha256sum prints'],
      ['upper case', 'A'.repeat(64), 'must be the 64 lowercase hex digits that sha256sum prints'],
      ['not hex', 'g'.repeat(64), 'must be the 64 lowercase hex digits that sha256sum prints'],
    ])('fails on a sha256 that is %s, naming file, line and field', (_label, hash, message) => {
      const text = withExtensions(`- { id: acme.tool, version: 2.0.1, sha256: ${hash} }`);
      expect(estateErrors(text)).toEqual([`estate.yaml:${lineOf(text, '- { id: acme.tool')}:38: extensions.acme.tool.sha256: ${message}`]);
    });

    it('fails on an extension with neither sha256 nor sha256Pending, and on one with both', () => {
      const text = withExtensions('- { id: acme.tool, version: 2.0.1 }', `- { id: acme.other, version: 1.0.0, sha256: ${HASH}, sha256Pending: waiting for the mirror to import it }`);
      expect(estateErrors(text)).toEqual([
        expect.stringMatching(new RegExp(`^estate\\.yaml:${lineOf(text, '- { id: acme.tool')}:\\d+: extensions\\.acme\\.tool: missing required key 'sha256' \\(sha256sum of the VSIX file; or sha256Pending: <why it is not known yet>\\)$`)),
        expect.stringMatching(/^estate\.yaml:\d+:\d+: extensions\.acme\.other\.sha256Pending: remove it: sha256 is filled in$/),
      ]);
    });

    it('fails on a pending hash without a real reason', () => {
      expect(estateErrors(withExtensions('- { id: acme.tool, version: 2.0.1, sha256Pending: later }'))).toEqual([
        expect.stringMatching(/extensions\.acme\.tool\.sha256Pending: must explain why the hash is not known yet, in at least 20 characters$/),
      ]);
    });

    it('fails on an id listed twice (in any case) and on two extensions sharing a VSIX file', () => {
      const text = withExtensions(
        `- { id: acme.tool, version: 2.0.1, sha256: ${HASH} }`,
        `- { id: Acme.Tool, version: 2.0.2, sha256: ${HASH} }`,
        `- { id: acme.other, version: 1.0.0, vsix: acme.tool-2.0.1.vsix, sha256: ${HASH} }`,
      );
      const first = lineOf(text, '- { id: acme.tool');
      expect(estateErrors(text)).toEqual([
        expect.stringMatching(new RegExp(`^estate\\.yaml:${first + 1}:\\d+: extensions\\.Acme\\.Tool\\.id: extension 'Acme\\.Tool' is listed twice \\(first on line ${first}\\)$`)),
        expect.stringMatching(new RegExp(`^estate\\.yaml:${first + 2}:\\d+: extensions\\.acme\\.other\\.vsix: VSIX file 'acme\\.tool-2\\.0\\.1\\.vsix' is also the file of the extension on line ${first}$`)),
      ]);
    });

    it('fails on a VSIX name with a directory in it', () => {
      expect(estateErrors(withExtensions(`- { id: acme.tool, version: 2.0.1, vsix: ../acme.vsix, sha256: ${HASH} }`))).toEqual([
        expect.stringMatching(/extensions\.acme\.tool\.vsix: must be a file name ending in \.vsix, without a directory$/),
      ]);
    });
  });

  describe('the fixed-address subnets (edge, identity, ai)', () => {
    it('defaults to three non-overlapping subnets when the file names none', () => {
      const text = ESTATE.replace(/^(edgeSubnet|identitySubnet|aiSubnet): .*\n/gm, '');
      expect(text).not.toMatch(/Subnet:/);
      const estate = loadEstate({ file: 'estate.yaml', text });
      expect([estate.edgeSubnet, estate.identitySubnet, estate.aiSubnet]).toEqual([DEFAULT_SUBNETS.edgeSubnet, DEFAULT_SUBNETS.identitySubnet, DEFAULT_SUBNETS.aiSubnet]);
      const all = Object.values(DEFAULT_SUBNETS);
      for (const a of all) for (const b of all) if (a !== b) expect(cidrsOverlap(a, b)).toBe(false);
    });

    it('fails on overlapping subnets, naming the file, line and field', () => {
      expect(estateErrors(estateWith('aiSubnet: 172.31.252.0/24', 'aiSubnet: 172.31.251.128/25'))).toEqual([
        expect.stringMatching(/^estate\.yaml:\d+:1: aiSubnet: 172\.31\.251\.128\/25 overlaps identitySubnet 172\.31\.251\.0\/24; give each network its own subnet$/),
      ]);
      // Against a default: reported at the field the file sets.
      const text = ESTATE.replace(/^identitySubnet: .*\n/m, '').replace('edgeSubnet: 172.31.250.0/24', 'edgeSubnet: 172.31.250.0/23');
      expect(estateErrors(text)).toEqual([expect.stringMatching(/^estate\.yaml:\d+:1: edgeSubnet: 172\.31\.250\.0\/23 overlaps identitySubnet 172\.31\.251\.0\/24 \(its default\)/)]);
    });

    it.each([
      ['host bits set', '10.202.0.5/28', 'must be a network address'],
      ['too small', '10.202.0.0/29', 'must be /28 or larger'],
      ['not a CIDR', '10.202.0.0', 'Invalid IPv4 range'],
    ])('fails on a subnet with %s', (_label, value, message) => {
      const errors = estateErrors(estateWith('edgeSubnet: 172.31.250.0/24', `edgeSubnet: ${value}`));
      expect(errors).toEqual([expect.stringMatching(new RegExp(`^estate\\.yaml:\\d+:\\d+: edgeSubnet: .*${message}`))]);
    });

    it('splits a subnet: Docker gets the lower half, nginx the last host address', () => {
      expect(subnetPlan('10.202.0.0/28')).toEqual({ subnet: '10.202.0.0/28', ipRange: '10.202.0.0/29', nginxAddress: '10.202.0.14', auditAddress: '10.202.0.13', nginxExporterAddress: '10.202.0.12' });
      expect(subnetPlan('10.202.0.16/28')).toEqual({ subnet: '10.202.0.16/28', ipRange: '10.202.0.16/29', nginxAddress: '10.202.0.30', auditAddress: '10.202.0.29', nginxExporterAddress: '10.202.0.28' });
      expect(subnetPlan('172.31.250.0/24')).toEqual({ subnet: '172.31.250.0/24', ipRange: '172.31.250.0/25', nginxAddress: '172.31.250.254', auditAddress: '172.31.250.253', nginxExporterAddress: '172.31.250.252' });
      expect(subnetPlan('10.0.0.0/8').nginxAddress).toBe('10.255.255.254');
      expect(() => subnetPlan('10.202.0.0/29')).toThrow(/too small/);
      expect(() => subnetPlan('10.202.0.8/28')).toThrow(/not a network address/);
    });
  });
});

describe('workspaces.shards', () => {
  const withShards = (value: string) => ESTATE.replace('  allowFileTransfer: false\n', `  allowFileTransfer: false\n  shards: ${value}\n`);

  it('defaults to 1 (one workspaces stack) and takes 2 to 256', () => {
    expect(defaultEstate().workspaces.shards).toBe(1);
    expect(ESTATE).toContain('  allowFileTransfer: false\n');
    for (const n of [2, 16, 256]) expect(defaultEstate(() => withShards(String(n))).workspaces.shards).toBe(n);
  });

  it('fails on a count that is not a whole number from 1 to 256, at its line', () => {
    const line = withShards('0').split('\n').indexOf('  shards: 0') + 1;
    expect(estateErrors(withShards('0'))).toEqual([`estate.yaml:${line}:3: workspaces.shards: Too small: expected number to be >=1`]);
    expect(estateErrors(withShards('257'))).toEqual([expect.stringMatching(/workspaces\.shards: Too big: expected number to be <=256/)]);
    expect(estateErrors(withShards('2.5'))).toEqual([expect.stringMatching(/workspaces\.shards: Invalid input: expected int, received number/)]);
  });
});
