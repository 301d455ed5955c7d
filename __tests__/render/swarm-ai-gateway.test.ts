import * as fs from 'fs';
import * as path from 'path';
import { AI_GATEWAY_ROUTES } from '../../render/ai-gateway';
import { renderNginxSecretsTemplate } from '../../render/nginx';
import { renderSwarmAiGatewayConf, SwarmAiGatewayInput } from '../../render/swarm-ai-gateway';
import { listenPorts, nginxSandbox, nginxTest, onLoopback, startDnsStandIn, startNginx, UNREACHED_AI_LIMITS, withResolver } from '../helpers/nginx';
import { freePorts, request, startRecordingServer, stopProcess } from '../helpers/processes';

const INPUT: SwarmAiGatewayInput = {
  port: 8081,
  upstreams: { litellm: 'webide-litellm:4000', tabby: 'webide-tabby:8080' },
  secretsIncludePath: '/run/secrets/ai-gateway-credentials.conf',
  aiLimits: UNREACHED_AI_LIMITS,
};

/** The gateway's credentials include, filled as the Swarm secret is. */
const secretsFile = (litellmKey: string, tabbyToken: string) => renderNginxSecretsTemplate().replace('$LITELLM_GATEWAY_KEY', litellmKey).replace('$TABBY_API_TOKEN', tabbyToken);

describe('renderSwarmAiGatewayConf (the Swarm target: the AI gateway on the forwarders’ overlay)', () => {
  it('is a pure function of its input, listens on the gateway port only, and real nginx -t accepts it', () => {
    const conf = renderSwarmAiGatewayConf(INPUT);
    expect(renderSwarmAiGatewayConf({ ...INPUT })).toBe(conf);
    expect(listenPorts(conf)).toEqual([8081]);
    const sandbox = nginxSandbox();
    try {
      const secrets = path.join(sandbox.dir, 'credentials.conf');
      fs.writeFileSync(secrets, secretsFile('sk-test-only', 'test-only'));
      fs.writeFileSync(path.join(sandbox.dir, 'gateway.conf'), renderSwarmAiGatewayConf({ ...INPUT, secretsIncludePath: secrets }));
      const check = nginxTest(path.join(sandbox.dir, 'gateway.conf'), sandbox.dir);
      expect(check.output).toContain('test is successful');
      expect(check.status).toBe(0);
    } finally {
      fs.rmSync(sandbox.dir, { recursive: true, force: true });
    }
  });

  describe('run by the real nginx (LiteLLM and Tabby: a recording server on loopback; names: a DNS stand-in)', () => {
    const sandbox = nginxSandbox();
    let stop: () => Promise<void> = async () => undefined;
    let gateway = '';
    let upstream: Awaited<ReturnType<typeof startRecordingServer>>;

    beforeAll(async () => {
      upstream = await startRecordingServer((req) => ({ status: 200, payload: { url: req.url } }));
      const dns = await startDnsStandIn();
      const [port] = await freePorts(1);
      const secrets = path.join(sandbox.dir, 'credentials.conf');
      fs.writeFileSync(secrets, secretsFile('sk-gateway-test-only', 'tabby-test-only'));
      const conf = renderSwarmAiGatewayConf({ ...INPUT, upstreams: { litellm: `webide-litellm:${upstream.port}`, tabby: `webide-tabby:${upstream.port}` }, secretsIncludePath: secrets });
      const { nginx, logPath } = startNginx(sandbox.dir, withResolver(onLoopback(conf, new Map([[8081, port]])), dns.port));
      gateway = `http://127.0.0.1:${port}`;
      stop = async () => {
        await stopProcess(nginx);
        await upstream.close();
        await dns.close();
      };
      for (let attempt = 0; ; attempt++) {
        const answer = await request(gateway, 'GET', '/v1/models', { headers: { 'X-Webide-User': 'alice' } }).catch((error: Error) => ({ status: 0, text: error.message }));
        if (answer.status === 200) break;
        if (attempt >= 40) throw new Error(`the gateway did not answer: ${answer.status} ${answer.text}\n${fs.existsSync(logPath) ? fs.readFileSync(logPath, 'utf8').slice(-2000) : ''}`);
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }, 30_000);

    afterAll(async () => {
      await stop();
      fs.rmSync(sandbox.dir, { recursive: true, force: true });
    });

    it("passes an allow-listed call as the user the forwarder named, with the gateway's own credential", async () => {
      const before = upstream.requests.length;
      const chat = await request(gateway, 'POST', '/v1/chat/completions', { body: { model: 'chat' }, headers: { 'X-Webide-User': 'alice', Authorization: 'Bearer sk-from-the-ide', 'X-Api-Key': 'sk-from-the-ide' } });
      const completion = await request(gateway, 'POST', '/tabby/v1/completions', { body: {}, headers: { 'X-Webide-User': 'bob' } });
      expect([chat.status, completion.status]).toEqual([200, 200]);
      expect(upstream.requests.slice(before).map((r) => [r.url, r.headers['x-webide-user'], r.headers.authorization, r.headers['x-api-key']])).toEqual([
        ['/v1/chat/completions', 'alice', 'Bearer sk-gateway-test-only', undefined],
        ['/v1/completions', 'bob', 'Bearer tabby-test-only', undefined],
      ]);
    });

    it('refuses a call that names nobody, or not a roster username (403), and anything off the allow-list (404); none reaches an upstream', async () => {
      const before = upstream.requests.length;
      const answers = [
        await request(gateway, 'POST', '/v1/chat/completions', { body: {} }),
        await request(gateway, 'POST', '/v1/chat/completions', { body: {}, headers: { 'X-Webide-User': 'Alice' } }),
        await request(gateway, 'POST', '/v1/chat/completions', { body: {}, headers: { 'X-Webide-User': 'alice bob' } }),
        await request(gateway, 'GET', '/v1/chat/completions', { headers: { 'X-Webide-User': 'alice' } }),
        await request(gateway, 'POST', '/key/generate', { body: {}, headers: { 'X-Webide-User': 'alice' } }),
      ];
      expect(answers.map((a) => a.status)).toEqual([403, 403, 403, 404, 404]);
      expect(upstream.requests.slice(before)).toEqual([]);
    });

    it('serves exactly the one-host allow-list', async () => {
      const served = [];
      for (const route of AI_GATEWAY_ROUTES) {
        const before = upstream.requests.length;
        const answer = await request(gateway, route.methods[0], route.path, { ...(route.methods[0] === 'POST' ? { body: {} } : {}), headers: { 'X-Webide-User': 'carol' } });
        served.push([route.path, answer.status, upstream.requests.slice(before).map((r) => r.url)]);
      }
      expect(served).toEqual(AI_GATEWAY_ROUTES.map((route) => [route.path, 200, [route.upstreamPath]]));
    });
  });
});
