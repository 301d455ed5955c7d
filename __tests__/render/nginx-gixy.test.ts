import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Testing } from 'cdktf';
import { EstateConfig } from '../../config/estate';
import { loadEstate } from '../../config/load';
import { NGINX_PATHS } from '../../constructs/nginx-entry';
import { PlatformStack } from '../../stacks/platform-stack';
import { defaultEstate, defaultRoster } from '../helpers/inputs';

// ---------------------------------------------------------------------------------------------
// gixy-ng, an outside nginx configuration checker (scripts/gixy-venv.sh installs the pinned
// version into .work/gixy-venv), over the nginx.conf the platform stack uploads, for the
// production estate and the e2e estate. No findings, except the waivers below.
// Run without --nginx-version: its CVE check rates the nginx binary's version, not this file.
// ---------------------------------------------------------------------------------------------

const ROOT = path.join(__dirname, '..', '..');
const GIXY = path.join(ROOT, '.work', 'gixy-venv', 'bin', 'gixy');

/**
 * The one place gixy findings are waived: the check, the rendered lines it may be about (the
 * server block that starts at the finding's line), and why it does not apply.
 */
export const GIXY_WAIVERS: readonly { readonly plugin: string; readonly block: RegExp; readonly reason: string }[] = [
  {
    plugin: 'hsts_header',
    block: /^\s*server \{\n\s*listen [\d.]+:8443 ssl http2 default_server;\n(?:\s*ssl_certificate(?:_key)? \S+;\n)+\s*return 444;\n\s*\}/,
    reason: 'The catch-all TLS server answers nothing (return 444 closes the connection): there is no response to carry the header. Every server that answers sends it.',
  },
];

interface GixyFinding {
  plugin: string;
  line: number;
  severity: string;
  reason: string;
  summary: string;
}

/** The nginx.conf the platform stack uploads into the nginx container. */
function uploadedNginxConf(estate: EstateConfig): string {
  const stack = new PlatformStack(Testing.app(), 'platform', { estate, roster: defaultRoster(), stateFile: 'platform.tfstate' });
  const containers = Object.values(JSON.parse(Testing.synth(stack)).resource.docker_container) as { upload?: { file: string; content: string }[] }[];
  const conf = containers.flatMap((c) => c.upload ?? []).find((u) => u.file === NGINX_PATHS.config);
  if (!conf) throw new Error('the platform stack uploads no nginx.conf');
  return conf.content;
}

function gixy(conf: string): GixyFinding[] {
  if (!fs.existsSync(GIXY)) throw new Error(`gixy-ng is not installed at ${GIXY}: run \`bash scripts/gixy-venv.sh\` (scripts/setup.sh does)`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'webide-gixy-'));
  try {
    const confPath = path.join(dir, 'nginx.conf');
    const report = path.join(dir, 'gixy.json');
    fs.writeFileSync(confPath, conf);
    const result = spawnSync(GIXY, ['-f', 'json', '-o', report, confPath], { encoding: 'utf8', timeout: 60_000 });
    // Exit 1 means findings; anything else without a report is a failure of gixy itself.
    if (!fs.existsSync(report) || (result.status !== 0 && result.status !== 1)) {
      throw new Error(`gixy failed (exit ${result.status}):\n${result.stderr}${result.stdout}`);
    }
    return JSON.parse(fs.readFileSync(report, 'utf8')) as GixyFinding[];
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Findings no waiver covers, as `plugin line N: reason`. */
function unwaived(conf: string, findings: readonly GixyFinding[]): string[] {
  const lines = conf.split('\n');
  return findings
    .filter((f) => !GIXY_WAIVERS.some((w) => w.plugin === f.plugin && w.block.test(lines.slice(f.line - 1).join('\n'))))
    .map((f) => `${f.plugin} line ${f.line}: ${f.reason} (${lines[f.line - 1]?.trim()})`);
}

describe('gixy-ng over the rendered nginx.conf', () => {
  const estates: Array<[string, () => EstateConfig]> = [
    ['the production estate (assets/estate.yaml)', () => defaultEstate()],
    [
      'the e2e estate (__tests__/e2e/estate.local.yaml)',
      () => {
        const file = path.join(ROOT, '__tests__', 'e2e', 'estate.local.yaml');
        return loadEstate({ file, text: fs.readFileSync(file, 'utf8').split('__E2E__').join('/e2e') });
      },
    ],
  ];

  it.each(estates)('finds nothing in the nginx.conf of %s, but the waived', (_name, estate) => {
    const conf = uploadedNginxConf(estate());
    expect(unwaived(conf, gixy(conf))).toEqual([]);
  }, 120_000);

  it('finds what it should: the checker runs and reports (a Host from the client, a dropped header)', () => {
    const conf = uploadedNginxConf(defaultEstate())
      .replace('proxy_set_header Host $host;', 'proxy_set_header Host $http_host;')
      .replace('      add_header Set-Cookie $auth_cookie;\n      add_header Strict-Transport-Security', '      add_header Set-Cookie $auth_cookie;\n      add_header X-Dropped');
    const plugins = unwaived(conf, gixy(conf)).map((line) => line.split(' ')[0]);
    expect(plugins).toEqual(expect.arrayContaining(['host_spoofing', 'add_header_redefinition']));
  }, 120_000);

  it('every waiver carries a reason and still matches a finding (a stale waiver is removed)', () => {
    const conf = uploadedNginxConf(defaultEstate());
    const findings = gixy(conf);
    const lines = conf.split('\n');
    for (const waiver of GIXY_WAIVERS) {
      expect(waiver.reason.length).toBeGreaterThan(40);
      expect({ waiver: waiver.plugin, used: findings.some((f) => f.plugin === waiver.plugin && waiver.block.test(lines.slice(f.line - 1).join('\n'))) }).toEqual({ waiver: waiver.plugin, used: true });
    }
  }, 120_000);
});
