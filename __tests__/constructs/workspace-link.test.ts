import { execFileSync } from 'child_process';
import { EGRESS_PROXY_USER_MAP } from '../../constructs/egress-proxy';
import { NGINX_GATEWAY_USER_MAP } from '../../constructs/nginx-entry';
import { squidUserMapEntry, squidUserMapUnlinked } from '../../render/egress-proxy';

/** What a user-map shell command prints, run by the real sh with the link's environment. */
function printed(command: string, ip: string, username = ''): string {
  return execFileSync('sh', ['-c', command], { env: { PATH: process.env.PATH, ip, USERNAME: username }, encoding: 'utf8' });
}

describe('the user maps the workspace links write (real sh)', () => {
  it("nginx's AI gateway map: one `\"<address>\" <user>;` line, the form nginx's map includes; unlinked, a comment", () => {
    expect(printed(NGINX_GATEWAY_USER_MAP.entryShell, '172.18.0.3', 'alice')).toBe('"172.18.0.3" alice;\n');
    expect(printed(NGINX_GATEWAY_USER_MAP.unlinkedShell, '172.18.0.3')).toBe('# 172.18.0.3: unlinked\n');
  });

  it("the egress proxy's map: exactly the text render/egress-proxy.ts gives Squid (which the real-Squid tests load)", () => {
    expect(printed(EGRESS_PROXY_USER_MAP.entryShell, '172.18.0.4', 'bob')).toBe(squidUserMapEntry('172.18.0.4', 'bob'));
    expect(printed(EGRESS_PROXY_USER_MAP.unlinkedShell, '172.18.0.4')).toBe(squidUserMapUnlinked('172.18.0.4'));
  });
});
