import * as http from 'http';
import { AddressInfo } from 'net';
import { untilKeycloakAnswers } from '../../scripts/keycloak/api';

/** A loopback server that answers the discovery path with `statuses` in turn (the last one from then on). */
async function server(statuses: number[]): Promise<{ url: string; paths: string[]; close: () => Promise<void> }> {
  const paths: string[] = [];
  const s = http.createServer((request, response) => {
    paths.push(request.url ?? '');
    response.writeHead(statuses[Math.min(paths.length - 1, statuses.length - 1)]).end('{}');
  });
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(s.address() as AddressInfo).port}/`, paths, close: () => new Promise((resolve) => s.close(() => resolve())) };
}

describe("keycloak:bootstrap waits for Keycloak (a swarm's is still starting after the entry stack's deploy)", () => {
  it("waits through the entry's 502s until the master realm's discovery answers, saying once that it waits", async () => {
    const keycloak = await server([502, 502, 200]);
    const log: string[] = [];
    try {
      await untilKeycloakAnswers(keycloak.url, 30, (line) => log.push(line));
    } finally {
      await keycloak.close();
    }
    expect(keycloak.paths).toEqual(Array(3).fill('/realms/master/.well-known/openid-configuration'));
    expect(log).toEqual([`keycloak:bootstrap: waiting for Keycloak at ${keycloak.url}realms/master/.well-known/openid-configuration (502)`]);
  }, 30_000);

  it('gives up after its time, naming the URL and the last answer', async () => {
    const keycloak = await server([503]);
    try {
      await expect(untilKeycloakAnswers(keycloak.url, 1, () => undefined)).rejects.toThrow(
        `Keycloak did not answer ${keycloak.url}realms/master/.well-known/openid-configuration within 1s (last: 503)`,
      );
    } finally {
      await keycloak.close();
    }
  }, 30_000);
});
