import { Testing, TerraformStack } from 'cdktf';
import { Image } from '../../.gen/providers/docker/image';
import { ManagedFiles } from '../../constructs/managed-files';
import { EstateNames } from '../../constructs/naming';
import { MANAGED_DIR, Workspace, WorkspaceEgress, workspaceManagedFiles } from '../../constructs/workspace';
import { IDE_EGRESS_FILES, ideEgressEnv, ideEgressFiles } from '../../render/ide-egress';
import { defaultRoster } from '../helpers/inputs';

/** The Workspace's egress prop: the proxy environment, the bank's CA mounts, the managed egress files. */
const egressInput = {
  proxyUrl: 'http://egress-proxy:3128',
  noProxy: ['ai-gateway'],
  managedDir: MANAGED_DIR,
  services: [{ name: 'npm', kind: 'npm' as const, urls: ['https://npm.bank.internal/'] }],
};
const files = { machineSettings: '{}\n', continueConfig: 'name: x\n', tabbyClientConfig: '[server]\n' };

function ideContainer(egress?: WorkspaceEgress) {
  const app = Testing.app();
  const stack = new TerraformStack(app, 'test');
  const image = new Image(stack, 'img', { name: 'registry.corp.example/code-server:1.0' });
  const managedFiles = new ManagedFiles(stack, 'managed', {
    name: 'estate-workspace-files',
    image,
    directory: MANAGED_DIR,
    files: workspaceManagedFiles(files, egress ? ideEgressFiles(egressInput) : []),
    labels: {},
  });
  const user = defaultRoster().users.find((u) => u.state === 'active')!;
  new Workspace(stack, user.username, { user, names: new EstateNames('estate'), image, managedFiles, labels: {}, dockerHost: 'unix:///var/run/docker.sock', egress });
  const synthesized = JSON.parse(Testing.synth(stack));
  const containers = Object.values(synthesized.resource.docker_container) as Record<string, any>[];
  return { ide: containers.find((c) => c.start !== false)!, loader: containers.find((c) => c.start === false)! };
}

describe('Workspace egress', () => {
  it('without egress sets no proxy variable and mounts no CA', () => {
    const { ide, loader } = ideContainer();
    expect((ide.env as string[]).filter((e) => /proxy|CA_|CERT/i.test(e))).toEqual([]);
    expect((ide.mounts as { target: string }[]).map((m) => m.target)).toEqual(['/home/coder', MANAGED_DIR]);
    expect((loader.upload as { file: string }[]).map((u) => u.file)).toEqual([`${MANAGED_DIR}/settings.json`, `${MANAGED_DIR}/continue-config.yaml`, `${MANAGED_DIR}/tabby-agent-config.toml`]);
  });

  it('with egress sets the proxy environment, mounts each CA read-only by service name, and adds the egress files to the managed dir', () => {
    const { ide, loader } = ideContainer({
      env: ideEgressEnv(egressInput),
      caFiles: [
        { service: 'npm', hostPath: '/etc/bank/npm-ca.pem' },
        { service: 'git', hostPath: '/etc/bank/ca.pem' },
      ],
    });
    expect(ide.env).toEqual(expect.arrayContaining(['HTTPS_PROXY=http://egress-proxy:3128', 'no_proxy=127.0.0.1,::1,ai-gateway,localhost', 'NODE_EXTRA_CA_CERTS=/tmp/webide-egress/ca-bundle.pem', 'HOME=/home/coder']));
    expect((ide.mounts as Record<string, unknown>[]).filter((m) => m.type === 'bind')).toEqual([
      { type: 'bind', source: '/etc/bank/ca.pem', target: '/etc/webide/egress-ca/git.pem', read_only: true },
      { type: 'bind', source: '/etc/bank/npm-ca.pem', target: '/etc/webide/egress-ca/npm.pem', read_only: true },
    ]);
    expect((loader.upload as { file: string }[]).map((u) => u.file)).toEqual(expect.arrayContaining([`${MANAGED_DIR}/${IDE_EGRESS_FILES.git}`, `${MANAGED_DIR}/${IDE_EGRESS_FILES.npm}`]));
  });

  it('keeps the estate\'s own variables over the egress ones', () => {
    const { ide } = ideContainer({ env: { ...ideEgressEnv(egressInput), HOME: '/elsewhere' }, caFiles: [] });
    expect(ide.env).toContain('HOME=/home/coder');
    expect(ide.env).not.toContain('HOME=/elsewhere');
  });
});
