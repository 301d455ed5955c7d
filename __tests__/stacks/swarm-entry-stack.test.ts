import { Testing } from 'cdktf';
import { loadEstate } from '../../config/load';
import { renderSwarmEntryConf } from '../../render/swarm-entry';
import { IDENTITY_IMAGE_ENTRYPOINTS, SwarmEntryStack } from '../../stacks/swarm-entry-stack';
import { assetText, withoutEgress } from '../helpers/inputs';
import { resourcesOf, StackJson } from '../helpers/json';
import { SWARM_BLOCK, withDigests } from '../helpers/swarm';

type ServiceJson = {
  name: string;
  mode: { global?: boolean; replicated?: { replicas: number } };
  endpoint_spec: { mode: string; ports?: { publish_mode: string; published_port: number; target_port: number; protocol: string }[] };
  task_spec: {
    container_spec: {
      image: string;
      command: string[];
      env?: Record<string, string>;
      user: string;
      read_only: boolean;
      cap_drop: string[];
      init: boolean;
      mounts?: { type: string; source?: string; target: string; read_only?: boolean }[];
      secrets?: { file_name: string; file_uid: string; file_gid: string; file_mode: number }[];
      configs?: { config_id: string; file_name: string }[];
    };
    networks_advanced: { id: string }[];
    placement: { constraints: string[] };
  };
};

const estate = loadEstate({ file: 'estate.yaml', text: `${withDigests(withoutEgress(assetText('estate.yaml')))}\n${SWARM_BLOCK}` });
const json: StackJson = JSON.parse(Testing.synth(new SwarmEntryStack(Testing.app(), 'entry', { estate, roster: { users: [], groups: [], retired: [] } as never, stateFile: '/state/terraform.entry.tfstate' })));
const resources = resourcesOf(json);
const services = new Map([...resources].filter(([key]) => key.startsWith('docker_service.')).map(([, body]) => [(body as unknown as ServiceJson).name, body as unknown as ServiceJson]));
const service = (name: string) => services.get(name)!;
/** A service's networks by the resource that declares them (`edge`, `identity`, `database`, or the looked-up `forwarders`). */
const networksOf = (name: string) => service(name).task_spec.networks_advanced.map((n) => n.id.replace(/^\$\{(?:data\.)?docker_network\.([a-z]+)-network\.id\}$/, '$1')).sort();

describe('SwarmEntryStack (the Swarm target: PostgreSQL, Keycloak and the entry point)', () => {
  it('runs nginx on every manager, its ports published on the node (host mode), on the edge, identity and forwarders overlays only', () => {
    const nginx = service('webide-nginx');
    expect(nginx.mode).toEqual({ global: true });
    expect(nginx.task_spec.placement.constraints).toEqual(['node.role==manager']);
    expect(nginx.endpoint_spec).toEqual({
      mode: 'dnsrr',
      ports: [
        { publish_mode: 'host', published_port: estate.httpsPort, target_port: 8443, protocol: 'tcp' },
        { publish_mode: 'host', published_port: estate.httpPort, target_port: 8080, protocol: 'tcp' },
      ],
    });
    expect(networksOf('webide-nginx')).toEqual(['edge', 'forwarders', 'identity']);
    // The forwarders' overlay is the AI stack's, looked up by name.
    expect((json as unknown as { data: { docker_network: Record<string, unknown> } }).data.docker_network['forwarders-network']).toEqual({ name: 'webide-net-forwarders' });
    // The TLS files from the manager's own paths, read-only; nothing else from the host.
    expect(nginx.task_spec.container_spec.mounts!.filter((m) => m.type === 'bind')).toEqual([
      { type: 'bind', source: estate.tls.certificateFile, target: '/etc/nginx/tls/fullchain.pem', read_only: true },
      { type: 'bind', source: estate.tls.keyFile, target: '/etc/nginx/tls/privkey.pem', read_only: true },
    ]);
  });

  it("serves the rendered Swarm entry config, routing /u/<name>/ to the user's forwarder", () => {
    const configs = [...resources].filter(([key]) => key.startsWith('docker_config.')).map(([, body]) => body as { name: string; data_raw: string });
    expect(configs).toHaveLength(1);
    expect(configs[0].data_raw).toBe(
      renderSwarmEntryConf({
        domain: estate.domain,
        httpsPort: estate.httpsPort,
        tlsProtocols: estate.tls.protocols,
        tlsCurves: estate.tls.curves,
        certificatePath: '/etc/nginx/tls/fullchain.pem',
        keyPath: '/etc/nginx/tls/privkey.pem',
        realm: estate.keycloak.realm,
        adminAllowCidrs: estate.keycloak.adminAllowCidrs,
        upstreams: { keycloak: 'webide-keycloak:8080', oauth2Proxy: 'webide-oauth2-proxy:4180' },
        workspaceHostPrefix: 'webide-fwd-',
        workspacePort: 8080,
        extraServerNames: [estate.domain, new URL(estate.keycloak.providerUrl).hostname],
      }),
    );
    expect(service('webide-nginx').task_spec.container_spec.command).toEqual(['nginx', '-e', 'stderr', '-c', '/etc/webide/entry.conf', '-g', 'daemon off; pid /tmp/nginx.pid;']);
  });

  it('keeps PostgreSQL on the first manager with its data volume, on the database overlay only; Keycloak on the managers between identity and database', () => {
    const postgres = service('webide-postgres');
    expect(postgres.task_spec.placement.constraints).toEqual(['node.hostname==mgr-1']);
    expect(postgres.task_spec.container_spec.mounts).toContainEqual({ type: 'volume', source: 'webide-data-postgres', target: '/var/lib/postgresql/data' });
    expect(networksOf('webide-postgres')).toEqual(['database']);
    expect(networksOf('webide-keycloak')).toEqual(['database', 'identity']);
    expect(service('webide-keycloak').task_spec.placement.constraints).toEqual(['node.role==manager']);
    const overlays = [...resources].filter(([key]) => key.startsWith('docker_network.')).map(([, body]) => body as { name: string; internal: boolean; options?: unknown });
    expect(Object.fromEntries(overlays.map((n) => [n.name, [n.internal, n.options]]))).toEqual({
      'webide-net-edge': [false, { encrypted: '' }],
      'webide-net-identity': [true, { encrypted: '' }],
      'webide-net-database': [true, { encrypted: '' }],
    });
  });

  it('keeps the passwords out of the service specs: Swarm secret files of their services, read by a wrapper before the image’s entrypoint', () => {
    for (const [name, body] of services) {
      const env = Object.keys(body.task_spec.container_spec.env ?? {});
      expect([name, env.filter((key) => /PASSWORD|SECRET|KEY/.test(key))]).toEqual([name, []]);
    }
    const mounts = Object.fromEntries([...services].map(([name, body]) => [name, (body.task_spec.container_spec.secrets ?? []).map((s) => `${s.file_name} ${s.file_uid}:${s.file_gid} ${s.file_mode.toString(8)}`).sort()]));
    expect(mounts).toEqual({
      'webide-postgres': ['POSTGRES_PASSWORD 999:999 400'],
      'webide-keycloak': ['KC_BOOTSTRAP_ADMIN_PASSWORD 1000:0 400', 'KC_DB_PASSWORD 1000:0 400'],
      'webide-nginx': [],
    });
    expect(service('webide-postgres').task_spec.container_spec.command.slice(-2)).toEqual([...IDENTITY_IMAGE_ENTRYPOINTS.postgres]);
    expect(service('webide-keycloak').task_spec.container_spec.command.slice(-2)).toEqual([...IDENTITY_IMAGE_ENTRYPOINTS.keycloak]);
    for (const secret of [...resources].filter(([key]) => key.startsWith('docker_secret.')).map(([, body]) => body as { data: string })) {
      expect(secret.data).toMatch(/^\$\{base64encode\(.*var\.keycloak_(db|admin)_password.*\)\}$/s);
    }
  });

  it('hardens every service as on one host: read-only root, non-root, no capabilities, an init, and a pids limit each', () => {
    for (const [name, body] of services) {
      const spec = body.task_spec.container_spec;
      expect([name, spec.read_only, spec.cap_drop, spec.init, /^0:|^root/.test(spec.user)]).toEqual([name, true, ['ALL'], true, false]);
    }
    const pids = [...resources].filter(([key]) => key.startsWith('null_resource.')).map(([, body]) => (body as { triggers: { pids_limit: string } }).triggers.pids_limit);
    expect(pids.sort()).toEqual(['2048', '512', '512']);
  });

  it('is the swarm target’s only', () => {
    const oneHost = loadEstate({ file: 'estate.yaml', text: assetText('estate.yaml') });
    expect(() => new SwarmEntryStack(Testing.app(), 'entry', { estate: oneHost, roster: { users: [], groups: [], retired: [] } as never, stateFile: '/s' })).toThrow("SwarmEntryStack: the estate's target is docker");
  });
});
