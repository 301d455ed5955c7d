import { ChildProcess, spawnSync } from 'child_process';
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { freePort, sleep, spawnLogged, stopProcess, tail } from './processes';

/** PostgreSQL 15's binaries (Debian's layout; the backup image has the same major version's client). */
export const PG_BIN = '/usr/lib/postgresql/15/bin';

/** An unprivileged uid for the server when the tests run as root (PostgreSQL refuses to run as root). */
const SERVER_UID = 65534;

export interface TestPostgres {
  /** The socket directory (PGHOST) and the port that names its socket (PGPORT). */
  readonly host: string;
  readonly port: number;
  /** PGHOST and PGPORT for a client; the role and password come from the caller. */
  readonly env: { readonly PGHOST: string; readonly PGPORT: string };
  /** Runs SQL (given on stdin, never on the command line) as `role`; fails the test on an error. */
  sql(role: { user: string; password: string; database: string }, text: string): string;
  readonly superuser: { readonly user: string; readonly password: string; readonly database: string };
  stop(): Promise<void>;
}

const randomPassword = () => crypto.randomBytes(18).toString('base64url');

/**
 * A throwaway PostgreSQL 15 cluster: initdb in a temporary directory, the server on a unix socket
 * in that directory only (no TCP listener), every role authenticated by password (scram-sha-256).
 * Stopped by its pid; the directory is removed.
 */
export async function startPostgres(): Promise<TestPostgres> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'webide-pg-'));
  const asRoot = process.getuid?.() === 0;
  const owner = asRoot ? { uid: SERVER_UID, gid: SERVER_UID } : {};
  if (asRoot) fs.chownSync(dir, SERVER_UID, SERVER_UID);
  fs.chmodSync(dir, 0o700);
  const superuser = { user: 'postgres', password: randomPassword(), database: 'postgres' };
  const pwfile = path.join(dir, 'superuser.pw');
  fs.writeFileSync(pwfile, `${superuser.password}\n`, { mode: 0o600 });
  if (asRoot) fs.chownSync(pwfile, SERVER_UID, SERVER_UID);
  const data = path.join(dir, 'data');
  const init = spawnSync(
    path.join(PG_BIN, 'initdb'),
    ['-D', data, '-U', superuser.user, '--auth=scram-sha-256', `--pwfile=${pwfile}`, '-E', 'UTF8', '--locale=C', '--no-sync'],
    { encoding: 'utf8', cwd: dir, ...owner, timeout: 120_000 },
  );
  fs.rmSync(pwfile);
  if (init.status !== 0) throw new Error(`initdb failed:\n${init.stdout}${init.stderr}`);

  const port = await freePort();
  const logPath = path.join(os.tmpdir(), `${path.basename(dir)}.log`);
  const server: ChildProcess = spawnLogged(path.join(PG_BIN, 'postgres'), ['-D', data, '-p', String(port), '-c', "listen_addresses=", '-c', `unix_socket_directories=${dir}`, '-c', 'fsync=off'], {
    cwd: dir,
    env: { PATH: process.env.PATH, LANG: 'C' },
    logPath,
    ...owner,
  });
  const env = { PGHOST: dir, PGPORT: String(port) };
  const ready = async () => {
    for (let attempt = 0; attempt < 120; attempt++) {
      if (server.exitCode !== null) break;
      if (spawnSync(path.join(PG_BIN, 'pg_isready'), ['-q'], { env: { ...process.env, ...env } }).status === 0) return;
      await sleep(250);
    }
    await stopProcess(server);
    throw new Error(`PostgreSQL did not start:\n${tail(logPath)}`);
  };
  await ready();

  return {
    host: dir,
    port,
    env,
    superuser,
    sql(role, text) {
      const result = spawnSync(path.join(PG_BIN, 'psql'), ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-U', role.user, '-d', role.database], {
        input: text,
        encoding: 'utf8',
        env: { ...process.env, ...env, PGPASSWORD: role.password },
        timeout: 60_000,
      });
      if (result.status !== 0) throw new Error(`psql as ${role.user} failed: ${result.stderr}`);
      return result.stdout;
    },
    async stop() {
      await stopProcess(server);
      fs.rmSync(dir, { recursive: true, force: true });
      fs.rmSync(logPath, { force: true });
    },
  };
}
