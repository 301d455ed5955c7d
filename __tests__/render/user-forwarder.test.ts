import * as fs from 'fs';
import { renderUserForwarderConf } from '../../render/user-forwarder';
import { listenPorts, nginxSandbox, nginxTest, onLoopback, startDnsStandIn, startNginx, withResolver } from '../helpers/nginx';
import { freePorts, request, startRecordingServer, stopProcess, waitUntilAnswers } from '../helpers/processes';

const INPUT = { username: 'alice', ide: { host: 'webide-ide-alice', port: 8080 }, gateway: { host: 'webide-nginx', port: 8081 }, listen: { ai: 8081, ide: 8080 } } as const;

describe('renderUserForwarderConf (the Swarm target: one per user)', () => {
  it('is a pure function of its input, and real nginx -t accepts it', () => {
    const conf = renderUserForwarderConf(INPUT);
    expect(renderUserForwarderConf({ ...INPUT })).toBe(conf);
    expect(listenPorts(conf)).toEqual([8080, 8081]);
    const sandbox = nginxSandbox();
    try {
      fs.writeFileSync(`${sandbox.dir}/forwarder.conf`, conf);
      const check = nginxTest(`${sandbox.dir}/forwarder.conf`, sandbox.dir);
      expect(check.output).toContain('test is successful');
      expect(check.status).toBe(0);
    } finally {
      fs.rmSync(sandbox.dir, { recursive: true, force: true });
    }
  });

  it('refuses a name that is not a roster username (it goes into a header and the config)', () => {
    expect(() => renderUserForwarderConf({ ...INPUT, username: 'alice"; evil' })).toThrow("'alice\"; evil' is not a roster username");
  });

  describe('run by the real nginx (upstreams: a recording server on loopback; names: a DNS stand-in)', () => {
    const sandbox = nginxSandbox();
    let stop: () => Promise<void> = async () => undefined;
    let ai = '';
    let ide = '';
    let upstream: Awaited<ReturnType<typeof startRecordingServer>>;
    let dns: Awaited<ReturnType<typeof startDnsStandIn>>;

    beforeAll(async () => {
      upstream = await startRecordingServer((req) => ({ status: 200, payload: { url: req.url } }));
      dns = await startDnsStandIn();
      const [aiPort, idePort] = await freePorts(2);
      // Both upstreams are the recording server (the DNS stand-in answers 127.0.0.1 for every name).
      const conf = renderUserForwarderConf({ ...INPUT, ide: { ...INPUT.ide, port: upstream.port }, gateway: { ...INPUT.gateway, port: upstream.port } });
      const { nginx, logPath } = startNginx(sandbox.dir, withResolver(onLoopback(conf, new Map([[8081, aiPort], [8080, idePort]])), dns.port));
      ai = `http://127.0.0.1:${aiPort}`;
      ide = `http://127.0.0.1:${idePort}`;
      stop = async () => {
        await stopProcess(nginx);
        await upstream.close();
        await dns.close();
      };
      await waitUntilAnswers(`${ide}/healthz`, nginx, logPath, 15_000, 'the forwarder');
    }, 30_000);

    afterAll(async () => {
      await stop();
      fs.rmSync(sandbox.dir, { recursive: true, force: true });
    });

    it("passes the IDE's AI call to the gateway as this user's, whatever user the IDE claims", async () => {
      const before = upstream.requests.length;
      const answer = await request(ai, 'POST', '/v1/chat/completions', { body: { model: 'chat' }, headers: { 'X-Webide-User': 'bob' } });
      expect(answer.status).toBe(200);
      const seen = upstream.requests.slice(before);
      expect(seen.map((r) => [r.method, r.url, r.headers['x-webide-user']])).toEqual([['POST', '/v1/chat/completions', 'alice']]);
      expect(dns.queries).toContain('webide-nginx');
    });

    it("passes the entry point's IDE traffic to this user's IDE, unchanged", async () => {
      const before = upstream.requests.length;
      const answer = await request(ide, 'GET', '/static/x.js?v=1');
      expect(answer.status).toBe(200);
      expect(upstream.requests.slice(before).map((r) => [r.url, r.headers['x-webide-user']])).toEqual([['/static/x.js?v=1', undefined]]);
      expect(dns.queries).toContain('webide-ide-alice');
    });
  });
});
