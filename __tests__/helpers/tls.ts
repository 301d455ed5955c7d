import * as crypto from 'crypto';
import * as fs from 'fs';
import * as path from 'path';
import { mustRun } from './run';

/**
 * A throwaway CA and a certificate it signs for `domain` and the given IP addresses, in `dir`:
 * ca.pem, leaf.pem, privkey.pem (0644: nginx runs as uid 101 and reads the bind-mounted key) and
 * fullchain.pem. Made once; a second call finds them.
 */
export function testCertificates(dir: string, domain: string, ips: readonly string[]): void {
  if (fs.existsSync(path.join(dir, 'fullchain.pem'))) return;
  fs.mkdirSync(dir, { recursive: true });
  const at = (name: string) => path.join(dir, name);
  const openssl = (...args: string[]) => mustRun('openssl', args, { cwd: dir });
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '7', '-subj', '/CN=webide test CA', '-keyout', 'ca.key', '-out', 'ca.pem');
  openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', `/CN=${domain}`, '-keyout', 'privkey.pem', '-out', 'leaf.csr');
  fs.writeFileSync(at('leaf.ext'), `subjectAltName=${[`DNS:${domain}`, ...ips.map((ip) => `IP:${ip}`)].join(',')}\nextendedKeyUsage=serverAuth\n`);
  openssl('x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '7', '-extfile', 'leaf.ext', '-out', 'leaf.pem');
  fs.writeFileSync(at('fullchain.pem'), fs.readFileSync(at('leaf.pem'), 'utf8') + fs.readFileSync(at('ca.pem'), 'utf8'));
  fs.chmodSync(at('privkey.pem'), 0o644);
}

/** The SPKI hash of a certificate, for Chromium's --ignore-certificate-errors-spki-list (trust exactly that one). */
export function leafSpki(certificateFile: string): string {
  const pub = mustRun('openssl', ['x509', '-in', certificateFile, '-pubkey', '-noout']);
  const der = crypto.createPublicKey(pub).export({ type: 'spki', format: 'der' });
  return crypto.createHash('sha256').update(der).digest('base64');
}
