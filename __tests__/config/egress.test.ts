import { egressDestinations, internalDomainProblem, isUnderDomain, parseEgressUrl } from '../../config/egress';
import { loadEstate } from '../../config/load';
import { assetText, estateErrors, estateWithBlock, withoutEgress } from '../helpers/inputs';

/** The sample estate without its egress section (the tests add their own). */
const ESTATE = withoutEgress(assetText('estate.yaml'));


/** The issue-18 contract's egress block, in block style so each field has a line of its own. */
const EGRESS = `egress:
  internalDomains: [bank.internal]
  services:
    - name: git
      kind: git
      urls: [https://git.bank.internal/, https://GIT.bank.internal:443/mirror/]
      caFile: /etc/webide/bank-ca.pem
    - name: npm
      kind: npm
      urls: [https://npm.bank.internal/]
      caFile: /etc/webide/bank-ca.pem
    - name: pypi
      kind: pypi
      urls: [https://pypi.bank.internal/simple/]
      caFile: /etc/webide/bank-ca.pem
    - name: maven
      kind: maven
      urls: [https://maven.bank.internal/maven2/]
      caFile: /etc/webide/bank-ca.pem
    - name: debian
      kind: apt
      urls: [https://apt.bank.internal/debian/]
      caFile: /etc/webide/bank-ca.pem
      apt: { suite: bookworm, components: [main] }
    - name: docs
      kind: https
      urls: [https://docs.bank.internal:8443/, https://bank.internal/, https://git.bank.internal/wiki/]
      caFile: /etc/webide/bank-ca.pem
`;

/** The sample estate with the egress block above, edited by each [search, replacement] (each must be there). */
function withEgress(...edits: [string, string][]): string {
  return estateWithBlock(ESTATE, EGRESS, edits);
}

/** `estate.yaml:<line>:<col>` of `token` on the first line (after the sample estate) that holds `line`. */
function at(text: string, line: string, token: string = line): string {
  const lines = text.split('\n');
  const start = ESTATE.split('\n').length - 1;
  const index = lines.findIndex((l, i) => i >= start && l.includes(line));
  if (index < 0 || !lines[index].includes(token)) throw new Error(`no line with "${line}" and "${token}"`);
  return `estate.yaml:${index + 1}:${lines[index].indexOf(token) + 1}`;
}

describe('the egress section', () => {
  it('is optional: without it the estate has no egress', () => {
    expect(ESTATE).not.toMatch(/^egress:/m);
    expect(loadEstate({ file: 'estate.yaml', text: ESTATE }).egress).toBeUndefined();
  });

  it("accepts the contract's services and lists each host:port once, sorted, with the services that use it", () => {
    const egress = loadEstate({ file: 'estate.yaml', text: withEgress() }).egress!;
    expect(egress.internalDomains).toEqual(['bank.internal']);
    expect(egress.services.map((s) => [s.name, s.kind, s.urls.length, s.apt])).toEqual([
      ['git', 'git', 2, undefined],
      ['npm', 'npm', 1, undefined],
      ['pypi', 'pypi', 1, undefined],
      ['maven', 'maven', 1, undefined],
      ['debian', 'apt', 1, { suite: 'bookworm', components: ['main'] }],
      ['docs', 'https', 3, undefined],
    ]);
    // GIT.bank.internal:443 is git.bank.internal with the default port: one destination, two services.
    expect(egressDestinations(egress)).toEqual([
      { host: 'apt.bank.internal', port: 443, services: ['debian'] },
      { host: 'bank.internal', port: 443, services: ['docs'] },
      { host: 'docs.bank.internal', port: 8443, services: ['docs'] },
      { host: 'git.bank.internal', port: 443, services: ['docs', 'git'] },
      { host: 'maven.bank.internal', port: 443, services: ['maven'] },
      { host: 'npm.bank.internal', port: 443, services: ['npm'] },
      { host: 'pypi.bank.internal', port: 443, services: ['pypi'] },
    ]);
  });

  it('reads a URL: host lowercase, port 443 unless named; refuses what the proxy cannot allow by name', () => {
    expect(parseEgressUrl('https://Git.Bank.Internal/x')).toEqual({ host: 'git.bank.internal', port: 443 });
    expect(parseEgressUrl('https://git.bank.internal:8443/')).toEqual({ host: 'git.bank.internal', port: 8443 });
    // The URL parser turns these into IP addresses before the check sees them.
    expect(parseEgressUrl('https://0x7f.1/')).toEqual({ error: expect.stringMatching(/not an IP address/) });
    expect(parseEgressUrl('https://2130706433/')).toEqual({ error: expect.stringMatching(/not an IP address/) });
    expect(parseEgressUrl('https:git.bank.internal/')).toEqual({ error: expect.stringMatching(/absolute https:\/\//) });
    expect(parseEgressUrl('https://@git.bank.internal/')).toEqual({ error: expect.stringMatching(/user name or password/) });
    expect(parseEgressUrl('https://git.bank.internal/?')).toEqual({ error: 'must not have a query or fragment' });
    expect(parseEgressUrl('https://git.bank.internal:0/')).toEqual({ error: expect.stringMatching(/port from 1 to 65535/) });
    expect(parseEgressUrl('https://git_x.bank.internal/')).toEqual({ error: expect.stringMatching(/DNS host/) });
  });

  it('matches a host to a domain by whole labels', () => {
    expect(isUnderDomain('git.bank.internal', 'bank.internal')).toBe(true);
    expect(isUnderDomain('bank.internal', 'bank.internal')).toBe(true);
    expect(isUnderDomain('evilbank.internal', 'bank.internal')).toBe(false);
    expect(isUnderDomain('bank.internal.example.com', 'bank.internal')).toBe(false);
    expect(['bank.internal', 'git.corp', 'xn--bcher-kva.bank.internal'].map(internalDomainProblem)).toEqual([undefined, undefined, undefined]);
  });

  describe('fails, naming the file, line, column and field', () => {
    it.each<[string, [string, string], string, string, string, string]>([
      ['a host outside the internal domains', ['https://npm.bank.internal/', 'https://registry.example.com/'], 'https://registry.example.com/', 'https://registry', 'egress.services.npm.urls.0',
        'host registry.example.com is not under any of egress.internalDomains (bank.internal): add its domain there only if the bank owns it, or remove the URL'],
      ['a host that only ends like an internal domain', ['https://bank.internal/', 'https://evilbank.internal/'], 'https://evilbank.internal/', 'https://evilbank', 'egress.services.docs.urls.1',
        'host evilbank.internal is not under any of egress.internalDomains (bank.internal): add its domain there only if the bank owns it, or remove the URL'],
      ['a plain http URL', ['https://npm.bank.internal/', 'http://npm.bank.internal/'], 'http://npm', 'http://npm', 'egress.services.npm.urls.0', 'must be an absolute https:// URL such as https://git.bank.internal/'],
      ['a URL without a scheme', ['https://npm.bank.internal/', 'npm.bank.internal/'], 'urls: [npm.bank.internal/]', 'npm.bank', 'egress.services.npm.urls.0', 'must be an absolute https:// URL such as https://git.bank.internal/'],
      ['an IPv4 literal', ['https://npm.bank.internal/', 'https://10.20.30.40/'], 'https://10.20.30.40/', 'https://10', 'egress.services.npm.urls.0',
        'must name a DNS host, not an IP address: the proxy allows destinations by name, under egress.internalDomains'],
      ['an IPv6 literal', ['https://npm.bank.internal/', '"https://[fd00::1]/"'], 'https://[fd00::1]/', '"https://[', 'egress.services.npm.urls.0',
        'must name a DNS host, not an IP address: the proxy allows destinations by name, under egress.internalDomains'],
      ['a wildcard host', ['https://npm.bank.internal/', 'https://*.bank.internal/'], 'https://*.bank', 'https://*', 'egress.services.npm.urls.0', 'must not hold a wildcard (*): the proxy allows named hosts only; list each one'],
      ['a user name and password', ['https://npm.bank.internal/', 'https://ci:fixture-not-a-password@npm.bank.internal/'], 'https://ci:', 'https://ci', 'egress.services.npm.urls.0',
        'must not hold a user name or password: estate.yaml is committed (the service authenticates users another way)'],
      ['a query', ['https://npm.bank.internal/', 'https://npm.bank.internal/?scope=x'], 'https://npm.bank.internal/?scope', 'https://npm', 'egress.services.npm.urls.0', 'must not have a query or fragment'],
      ['a fragment', ['https://npm.bank.internal/', 'https://npm.bank.internal/#top'], 'https://npm.bank.internal/#top', 'https://npm', 'egress.services.npm.urls.0', 'must not have a query or fragment'],
      ['an internal domain that is a wildcard', ['[bank.internal]', '["*"]'], 'internalDomains', '"*"', 'egress.internalDomains.0', 'must not be a wildcard: write the suffix itself (bank.internal covers every host under it)'],
      ['an internal domain with a wildcard label', ['[bank.internal]', '["*.bank.internal"]'], 'internalDomains', '"*.bank', 'egress.internalDomains.0', 'must not be a wildcard: write the suffix itself (bank.internal covers every host under it)'],
      ['an internal domain that is a top-level domain', ['[bank.internal]', '[bank.internal, com]'], 'internalDomains', 'com', 'egress.internalDomains.1',
        "must have at least two labels (such as bank.internal): 'com' alone would take in every host under a top-level domain"],
      ['an internal domain that is the root', ['[bank.internal]', '[bank.internal, "."]'], 'internalDomains', '"."', 'egress.internalDomains.1', 'must be written without a leading or trailing dot (bank.internal, not .bank.internal)'],
      ['an empty internal domain', ['[bank.internal]', '[bank.internal, ""]'], 'internalDomains', '""', 'egress.internalDomains.1', 'must not be empty'],
      ['an internal domain with a leading dot', ['[bank.internal]', '[.bank.internal]'], 'internalDomains', '.bank', 'egress.internalDomains.0', 'must be written without a leading or trailing dot (bank.internal, not .bank.internal)'],
      ['no internal domain', ['[bank.internal]', '[]'], 'internalDomains', 'internalDomains', 'egress.internalDomains', 'must list at least one domain (such as bank.internal)'],
      ['a name listed twice', ['- name: docs', '- name: git'], '- name: git\n      kind: https', 'name', 'egress.services.git.name', 'service \'git\' is listed twice (first on line LINE)'],
      ['npm with two URLs', ['urls: [https://npm.bank.internal/]', 'urls: [https://npm.bank.internal/, https://npm2.bank.internal/]'], 'npm2', 'urls', 'egress.services.npm.urls',
        'kind npm takes exactly one URL (the registry its client is pointed at), not 2: give each registry its own service'],
      ['pypi with two URLs', ['urls: [https://pypi.bank.internal/simple/]', 'urls: [https://pypi.bank.internal/simple/, https://pypi.bank.internal/extra/]'], '/extra/', 'urls', 'egress.services.pypi.urls',
        'kind pypi takes exactly one URL (the registry its client is pointed at), not 2: give each registry its own service'],
      ['maven with two URLs', ['urls: [https://maven.bank.internal/maven2/]', 'urls: [https://maven.bank.internal/maven2/, https://maven.bank.internal/snapshots/]'], '/snapshots/', 'urls', 'egress.services.maven.urls',
        'kind maven takes exactly one URL (the registry its client is pointed at), not 2: give each registry its own service'],
      ['an apt block on another kind', ['      caFile: /etc/webide/bank-ca.pem\n    - name: npm', '      caFile: /etc/webide/bank-ca.pem\n      apt: { suite: bookworm, components: [main] }\n    - name: npm'], 'apt: { suite', 'apt', 'egress.services.git.apt',
        'only a service of kind apt takes an apt block (this one is git): remove it, or set kind: apt'],
      ['kind apt without its apt block', ['      apt: { suite: bookworm, components: [main] }\n', ''], '- name: debian', 'name', 'egress.services.debian', "missing required key 'apt' for kind apt ({ suite: bookworm, components: [main] })"],
      ['a relative CA file', ['      caFile: /etc/webide/bank-ca.pem\n    - name: npm', '      caFile: bank-ca.pem\n    - name: npm'], 'caFile: bank-ca.pem', 'caFile', 'egress.services.git.caFile', 'must be an absolute path on the Docker host'],
      ['a bad service name', ['- name: docs', '- name: Docs_Wiki'], '- name: Docs_Wiki', 'name', 'egress.services.Docs_Wiki.name', 'must be a short lowercase name such as git (letters, digits and -, at most 31)'],
    ])('%s', (_label, edit, line, token, path, message) => {
      const text = withEgress(edit);
      const first = at(text, '- name: git').split(':')[1];
      // A search across two lines ("- name: git\n      kind: https") finds the second service named git.
      const where = line.includes('\n') ? nthAt(text, line, token) : at(text, line, token);
      expect(estateErrors(text)).toEqual([`${where}: ${path}: ${message.replace('LINE', first)}`]);
    });

    it('on an unknown kind, naming the kinds there are', () => {
      const text = withEgress(['kind: https', 'kind: svn']);
      expect(estateErrors(text)).toEqual([expect.stringMatching(new RegExp(`^${at(text, 'kind: svn', 'kind')}: egress\\.services\\.docs\\.kind: Invalid option: expected one of "git"\\|"npm"\\|"pypi"\\|"maven"\\|"apt"\\|"https"$`))]);
    });

    it('on an unknown key, suggesting the known one', () => {
      const text = withEgress(['      caFile: /etc/webide/bank-ca.pem\n    - name: npm', '      caFiles: /etc/webide/bank-ca.pem\n    - name: npm']);
      expect(estateErrors(text)).toEqual([
        `${at(text, '- name: git', 'name')}: egress.services.git: missing required key 'caFile'`,
        `${at(text, 'caFiles:', 'caFiles')}: egress.services.git.caFiles: unknown key 'caFiles' (did you mean 'caFile'?)`,
      ]);
    });
  });

  it('reports every problem at once, in file order', () => {
    const text = withEgress(
      ['[bank.internal]', '[bank.internal, "*"]'],
      ['https://git.bank.internal/, ', 'https://git.example.com/, '],
      ['urls: [https://npm.bank.internal/]', 'urls: [https://npm.bank.internal/, http://npm2.bank.internal/]'],
      ['      caFile: /etc/webide/bank-ca.pem\n    - name: pypi', '      caFile: ca.pem\n    - name: pypi'],
      ['- name: maven', '- name: npm'],
      ['      apt: { suite: bookworm, components: [main] }\n', ''],
      ['https://docs.bank.internal:8443/', 'https://172.16.0.9:8443/'],
    );
    const first = at(text, '- name: npm').split(':')[1];
    expect(estateErrors(text)).toEqual([
      `${at(text, 'internalDomains', '"*"')}: egress.internalDomains.1: must not be a wildcard: write the suffix itself (bank.internal covers every host under it)`,
      `${at(text, 'https://git.example.com/')}: egress.services.git.urls.0: host git.example.com is not under any of egress.internalDomains (bank.internal, *): add its domain there only if the bank owns it, or remove the URL`,
      `${at(text, 'npm2', 'urls')}: egress.services.npm.urls: kind npm takes exactly one URL (the registry its client is pointed at), not 2: give each registry its own service`,
      `${at(text, 'npm2', 'http://npm2')}: egress.services.npm.urls.1: must be an absolute https:// URL such as https://git.bank.internal/`,
      `${at(text, 'caFile: ca.pem', 'caFile')}: egress.services.npm.caFile: must be an absolute path on the Docker host`,
      `${nthAt(text, '- name: npm\n      kind: maven', 'name')}: egress.services.npm.name: service 'npm' is listed twice (first on line ${first})`,
      `${at(text, '- name: debian', 'name')}: egress.services.debian: missing required key 'apt' for kind apt ({ suite: bookworm, components: [main] })`,
      `${at(text, 'https://172.16.0.9:8443/')}: egress.services.docs.urls.0: must name a DNS host, not an IP address: the proxy allows destinations by name, under egress.internalDomains`,
    ]);
  });
});

/** `estate.yaml:<line>:<col>` of `token` on the first line of the first place the two-line `search` occurs. */
function nthAt(text: string, search: string, token: string): string {
  const offset = text.indexOf(search, ESTATE.length);
  if (offset < 0) throw new Error(`no "${search}"`);
  const line = text.slice(0, offset).split('\n').length;
  const content = text.split('\n')[line - 1];
  return `estate.yaml:${line}:${content.indexOf(token) + 1}`;
}
