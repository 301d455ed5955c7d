/**
 * The IDE's side of the egress proxy (issue 18): the files and environment that point git, curl,
 * npm/node, pip, Maven and apt at the bank's declared services, through the proxy, trusting the
 * bank's CAs, with nothing for the user to do.
 *
 * How each tool finds its file (the user can neither change nor move any of these places):
 * - git, npm, pip and Maven read the managed file through a link in the image's read-only root,
 *   at the tool's own system-level place (IDE_EGRESS_LINKS; images/code-server/Dockerfile makes
 *   them). The user's own configs (~/.gitconfig, ~/.npmrc, …) still layer on top: the proxy,
 *   not these files, is what enforces where traffic may go; these only make the right thing work.
 *   Without egress the links dangle, and each of these tools treats a missing system config as
 *   no config (the tests show it with the real tools).
 * - apt through APT_CONFIG (set only when an apt service is declared): apt warns on every run
 *   about a dangling link in apt.conf.d, and its config must also replace the image's own Debian
 *   sources, which lead nowhere in a closed network.
 * - curl and everything else that honours the usual variables through the environment
 *   (ideEgressEnv), set by the container.
 *
 * Trust: the image's entrypoint (images/code-server/webide-egress-trust.sh) writes, at every start,
 * the system CAs plus the bank's (the `.pem` files mounted at IDE_EGRESS_PATHS.caDir) into one
 * PEM bundle, which git, npm, pip, apt, curl, Python and node are pointed at, and into a Java
 * trust store that the JRE's default trust store links to (so Maven and every other JVM tool
 * trusts the bank's CAs with no option set). Both live in the user's /tmp: a user who changes
 * them changes only whom their own tools trust.
 */

export type EgressServiceKind = 'git' | 'npm' | 'pypi' | 'maven' | 'apt' | 'https';

/** One of the bank's services the IDE may reach through the proxy. */
export interface IdeEgressService {
  /** The service's name (unique); its CA is mounted as `<name>.pem` in IDE_EGRESS_PATHS.caDir. */
  readonly name: string;
  readonly kind: EgressServiceKind;
  /** Absolute https URLs; for npm and maven the first is the registry, for pypi the first is the index. */
  readonly urls: readonly string[];
  /** Debian suite and components of an `apt` service (required for that kind, ignored for others). */
  readonly apt?: { readonly suite: string; readonly components: readonly string[] };
}

export interface IdeEgressInput {
  /** The proxy as the IDE reaches it, with its port, e.g. `http://egress-proxy:3128`. */
  readonly proxyUrl: string;
  /** Hosts the IDE reaches directly (e.g. the AI gateway); loopback is always added. */
  readonly noProxy: readonly string[];
  readonly services: readonly IdeEgressService[];
  /** The IDE's managed dir (constructs/workspace.ts MANAGED_DIR), where the files are mounted. */
  readonly managedDir: string;
  /** The PEM bundle the tools trust. @default IDE_EGRESS_PATHS.caBundle (what the entrypoint writes) */
  readonly caBundle?: string;
}

/** A file of the managed dir: `file` is its name relative to that dir. */
export interface IdeEgressFile {
  readonly file: string;
  readonly content: string;
}

/** Paths of the IDE image's trust step (images/code-server/webide-egress-trust writes them at start). */
export const IDE_EGRESS_PATHS = {
  /** The bank's CAs, one `<service>.pem` per service, bind-mounted read-only. */
  caDir: '/etc/webide/egress-ca',
  /** System CAs plus the bank's, PEM. */
  caBundle: '/tmp/webide-egress/ca-bundle.pem',
  /** The same as a Java trust store; the JRE's default trust store (/etc/ssl/certs/java/cacerts) links here. */
  javaTrustStore: '/tmp/webide-egress/java-cacerts',
} as const;

/** Names of the rendered files in the managed dir. */
export const IDE_EGRESS_FILES = {
  git: 'egress-gitconfig',
  npm: 'egress-npmrc',
  pip: 'egress-pip.conf',
  maven: 'egress-maven-settings.xml',
  aptConf: 'egress-apt.conf',
  aptSources: 'egress-apt-sources.list',
} as const;

/**
 * The links the IDE image holds: system-level config path → managed file. Each is the place the
 * tool reads without any option: git's system config; npm's global npmrc (`<prefix>/etc/npmrc`,
 * the prefix being the parent of node's bin dir, /usr/bin/node in the image); pip's global
 * config; Debian Maven's global settings (/usr/share/maven/conf links to /etc/maven).
 */
export const IDE_EGRESS_LINKS: Readonly<Record<string, string>> = {
  '/etc/gitconfig': IDE_EGRESS_FILES.git,
  '/usr/etc/npmrc': IDE_EGRESS_FILES.npm,
  '/etc/pip.conf': IDE_EGRESS_FILES.pip,
  '/etc/maven/settings.xml': IDE_EGRESS_FILES.maven,
};

const HEADER = 'Managed by webide-estate (egress proxy); rewritten whenever the IDE container is recreated.';
/** Always reached directly: code-server's own health check (curl to 127.0.0.1) among them. */
const LOOPBACK = ['localhost', '127.0.0.1', '::1'];

const byName = <T extends { readonly name: string }>(items: readonly T[]): T[] =>
  [...items].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

function proxyHostPort(proxyUrl: string): { host: string; port: number } {
  const url = new URL(proxyUrl);
  if (url.protocol !== 'http:' || url.port === '' || url.pathname !== '/' || url.username || url.search) {
    throw new Error(`egress proxy URL ${proxyUrl}: must be http://<host>:<port> (Squid's plain HTTP port)`);
  }
  return { host: url.hostname, port: Number(url.port) };
}

function noProxyHosts(input: IdeEgressInput): string[] {
  return [...new Set([...LOOPBACK, ...input.noProxy])].sort();
}

/** The one service of a kind whose first URL a tool takes as its registry (npm, pypi, maven). */
function single(input: IdeEgressInput, kind: EgressServiceKind): IdeEgressService | undefined {
  const found = input.services.filter((s) => s.kind === kind);
  if (found.length > 1) {
    throw new Error(`egress services ${found.map((s) => s.name).join(', ')}: at most one service of kind ${kind} (its first URL is the registry the IDE's tools use)`);
  }
  if (found.length === 1 && found[0].urls.length === 0) throw new Error(`egress service ${found[0].name}: needs at least one URL`);
  return found[0];
}

const xml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** git's system config: the proxy and the CA bundle for every https remote (libcurl takes NO_PROXY from the environment). */
function gitConfig(input: IdeEgressInput, caBundle: string): string {
  return [`# ${HEADER}`, '[http]', `\tproxy = ${input.proxyUrl}`, `\tsslCAInfo = ${caBundle}`, ''].join('\n');
}

/** npm's global npmrc: the registry, the proxy for both schemes, and the CA bundle (which replaces npm's own CA list). */
function npmrc(input: IdeEgressInput, service: IdeEgressService, caBundle: string): string {
  return [
    `; ${HEADER}`,
    `registry=${service.urls[0]}`,
    `proxy=${input.proxyUrl}`,
    `https-proxy=${input.proxyUrl}`,
    `noproxy=${noProxyHosts(input).join(',')}`,
    `cafile=${caBundle}`,
    '',
  ].join('\n');
}

/** pip's global config: the index (further URLs as extra indexes), the proxy, the CA bundle. */
function pipConf(input: IdeEgressInput, service: IdeEgressService, caBundle: string): string {
  const [index, ...extra] = service.urls;
  return [
    `# ${HEADER}`,
    '[global]',
    `index-url = ${index}`,
    ...(extra.length > 0 ? ['extra-index-url =', ...extra.map((url) => `    ${url}`)] : []),
    `proxy = ${input.proxyUrl}`,
    `cert = ${caBundle}`,
    '',
  ].join('\n');
}

/**
 * Maven's global settings: every repository (mirrorOf `*`) through the bank's, and the proxy.
 * One `http` proxy serves https repositories too (Maven's resolver falls back to it when no
 * `https` proxy is declared). No namespace: Maven 3 reads settings without one. Trust comes from
 * the JRE's default trust store (see the file's comment).
 */
function mavenSettings(input: IdeEgressInput, service: IdeEgressService): string {
  const { host, port } = proxyHostPort(input.proxyUrl);
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<!-- ${HEADER} -->`,
    '<settings>',
    '  <proxies>',
    '    <proxy>',
    '      <id>egress-proxy</id>',
    '      <active>true</active>',
    '      <protocol>http</protocol>',
    `      <host>${xml(host)}</host>`,
    `      <port>${port}</port>`,
    `      <nonProxyHosts>${xml(noProxyHosts(input).join('|'))}</nonProxyHosts>`,
    '    </proxy>',
    '  </proxies>',
    '  <mirrors>',
    '    <mirror>',
    `      <id>${xml(service.name)}</id>`,
    '      <mirrorOf>*</mirrorOf>',
    `      <url>${xml(service.urls[0])}</url>`,
    '    </mirror>',
    '  </mirrors>',
    '</settings>',
    '',
  ].join('\n');
}

/** apt's config (APT_CONFIG): the proxy, the CA bundle, and the managed sources in place of the image's own. */
function aptConf(input: IdeEgressInput, caBundle: string): string {
  return [
    `// ${HEADER}`,
    `Acquire::http::Proxy "${input.proxyUrl}";`,
    `Acquire::https::Proxy "${input.proxyUrl}";`,
    `Acquire::https::CaInfo "${caBundle}";`,
    `Dir::Etc::sourcelist "${input.managedDir}/${IDE_EGRESS_FILES.aptSources}";`,
    // No parts dir: the image's own sources (the public Debian mirrors) are not read.
    'Dir::Etc::sourceparts "/nonexistent";',
    '',
  ].join('\n');
}

/** One `deb` line per URL of every apt service, services by name. */
function aptSources(services: readonly IdeEgressService[]): string {
  const lines = byName(services).flatMap((service) => {
    if (!service.apt) throw new Error(`egress service ${service.name}: kind apt needs apt: { suite, components }`);
    const { suite, components } = service.apt;
    if (components.length === 0) throw new Error(`egress service ${service.name}: apt.components must name at least one component`);
    return service.urls.map((url) => `deb ${url} ${suite} ${components.join(' ')}`);
  });
  return [`# ${HEADER}`, ...lines, ''].join('\n');
}

/**
 * The egress files of the managed dir, sorted by name: git's config always; npm's, pip's and
 * Maven's when a service of that kind is declared; apt's config and sources when an apt service is.
 */
export function ideEgressFiles(input: IdeEgressInput): IdeEgressFile[] {
  proxyHostPort(input.proxyUrl);
  const caBundle = input.caBundle ?? IDE_EGRESS_PATHS.caBundle;
  const files: IdeEgressFile[] = [{ file: IDE_EGRESS_FILES.git, content: gitConfig(input, caBundle) }];
  const npm = single(input, 'npm');
  if (npm) files.push({ file: IDE_EGRESS_FILES.npm, content: npmrc(input, npm, caBundle) });
  const pypi = single(input, 'pypi');
  if (pypi) files.push({ file: IDE_EGRESS_FILES.pip, content: pipConf(input, pypi, caBundle) });
  const maven = single(input, 'maven');
  if (maven) files.push({ file: IDE_EGRESS_FILES.maven, content: mavenSettings(input, maven) });
  const apt = input.services.filter((s) => s.kind === 'apt');
  if (apt.length > 0) {
    files.push({ file: IDE_EGRESS_FILES.aptConf, content: aptConf(input, caBundle) });
    files.push({ file: IDE_EGRESS_FILES.aptSources, content: aptSources(apt) });
  }
  return files.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
}

/**
 * The IDE container's environment for egress: the proxy in both spellings (curl reads only the
 * lower-case http_proxy; others the upper-case), the hosts reached directly, the CA bundle for
 * node (added to its own CAs), OpenSSL users such as Python's ssl and curl (SSL_CERT_FILE,
 * CURL_CA_BUNDLE), Python's requests (REQUESTS_CA_BUNDLE, which ignores SSL_CERT_FILE), and
 * apt's config when an apt service is declared.
 */
export function ideEgressEnv(input: IdeEgressInput): Record<string, string> {
  proxyHostPort(input.proxyUrl);
  const caBundle = input.caBundle ?? IDE_EGRESS_PATHS.caBundle;
  const noProxy = noProxyHosts(input).join(',');
  const env: Record<string, string> = {
    CURL_CA_BUNDLE: caBundle,
    HTTPS_PROXY: input.proxyUrl,
    HTTP_PROXY: input.proxyUrl,
    NODE_EXTRA_CA_CERTS: caBundle,
    NO_PROXY: noProxy,
    REQUESTS_CA_BUNDLE: caBundle,
    SSL_CERT_FILE: caBundle,
    http_proxy: input.proxyUrl,
    https_proxy: input.proxyUrl,
    no_proxy: noProxy,
  };
  if (input.services.some((s) => s.kind === 'apt')) env.APT_CONFIG = `${input.managedDir}/${IDE_EGRESS_FILES.aptConf}`;
  return Object.fromEntries(Object.entries(env).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
