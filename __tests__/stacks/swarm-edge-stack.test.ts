import { Testing } from 'cdktf';
import { loadEstate } from '../../config/load';
import { oauth2ProxyEnv } from '../../stacks/edge-stack';
import { OAUTH2_PROXY_ENTRYPOINT, SwarmEdgeStack } from '../../stacks/swarm-edge-stack';
import { assetText, withoutEgress } from '../helpers/inputs';
import { resourcesOf, StackJson } from '../helpers/json';
import { SWARM_BLOCK, withDigests } from '../helpers/swarm';

type ServiceJson = {
  name: string;
  task_spec: {
    container_spec: { command: string[]; env: Record<string, string>; user: string; read_only: boolean; cap_drop: string[]; init: boolean; secrets: { file_name: string; file_uid: string; file_gid: string; file_mode: number }[] };
    networks_advanced: { id: string }[];
    placement: { constraints: string[] };
  };
};

const estate = loadEstate({ file: 'estate.yaml', text: `${withDigests(withoutEgress(assetText('estate.yaml')))}\n${SWARM_BLOCK}` });
const props = { estate, roster: { users: [], groups: [], retired: [] } as never, stateFile: '/state/terraform.edge.tfstate', oidcClientId: 'webide-ide', oidcClientSecret: '${var.test_client_secret}' };
const json: StackJson = JSON.parse(Testing.synth(new SwarmEdgeStack(Testing.app(), 'edge', props)));
const resources = resourcesOf(json);
const services = [...resources].filter(([key]) => key.startsWith('docker_service.')).map(([, body]) => body as unknown as ServiceJson);

describe('SwarmEdgeStack (the Swarm target: oauth2-proxy)', () => {
  it("runs oauth2-proxy on a manager, on the entry stack's identity overlay only, with the one-host settings", () => {
    expect(services.map((s) => s.name)).toEqual(['webide-oauth2-proxy']);
    const [proxy] = services;
    expect(proxy.task_spec.placement.constraints).toEqual(['node.role==manager']);
    expect(proxy.task_spec.networks_advanced).toEqual([{ id: '${data.docker_network.identity-network.id}' }]);
    expect((json as unknown as { data: { docker_network: Record<string, unknown> } }).data.docker_network['identity-network']).toEqual({ name: 'webide-net-identity' });
    expect(proxy.task_spec.container_spec.env).toEqual(oauth2ProxyEnv(estate, 'webide-ide', undefined));
  });

  it('keeps the client and cookie secrets out of the spec: Swarm secret files, 0400 to its user, read by the wrapper before its entrypoint', () => {
    const [proxy] = services;
    expect(Object.keys(proxy.task_spec.container_spec.env).filter((key) => /SECRET/.test(key))).toEqual([]);
    expect(proxy.task_spec.container_spec.secrets.map((s) => `${s.file_name} ${s.file_uid}:${s.file_gid} ${s.file_mode.toString(8)}`).sort()).toEqual([
      'OAUTH2_PROXY_CLIENT_SECRET 65532:65532 400',
      'OAUTH2_PROXY_COOKIE_SECRET 65532:65532 400',
    ]);
    expect(proxy.task_spec.container_spec.command.slice(-1)).toEqual([...OAUTH2_PROXY_ENTRYPOINT]);
    const data = [...resources].filter(([key]) => key.startsWith('docker_secret.')).map(([, body]) => (body as { data: string }).data).sort();
    // The client secret as the caller passed it (here a stand-in string; in the estate, the identity stack's output), the cookie secret from its variable.
    expect(data).toEqual(['${base64encode("$${var.test_client_secret}")}', '${base64encode(var.oauth2_proxy_cookie_secret)}']);
  });

  it('hardens it as on one host: read-only root, non-root, no capabilities, an init, a pids limit', () => {
    const spec = services[0].task_spec.container_spec;
    expect([spec.read_only, spec.cap_drop, spec.init, spec.user]).toEqual([true, ['ALL'], true, '65532:65532']);
    expect([...resources].filter(([key]) => key.startsWith('null_resource.')).map(([, body]) => (body as { triggers: { pids_limit: string } }).triggers.pids_limit)).toEqual(['256']);
  });
});
