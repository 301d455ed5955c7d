import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import * as path from 'path';
import {
  AUDIT_OTHER_SOURCE,
  AUDIT_SINK_ENV,
  AUDIT_SINK_PATHS,
  AUDIT_SINK_PORTS,
  AUDIT_SOURCES,
  AuditSinkInput,
  auditSinkEnvironment,
  nginxAuditSyslogTarget,
  renderRsyslogConf,
} from '../../render/audit-sink';
import { startNginx } from '../helpers/nginx';
import { freePort, sleep, stopProcess, tail } from '../helpers/processes';
import {
  auditTempDirs,
  RunningRsyslogd,
  keycloakSyslogFrame,
  readLines,
  rsyslogCheck,
  sendTcp,
  sendUdp,
  siemStandInConf,
  startRsyslogd,
  testCa,
  utcDay,
  waitForLines,
  zoneOffDay,
} from '../helpers/rsyslog';

const tempDir = auditTempDirs();

const FORWARD = { host: 'siem.bank.example', port: 6514, caFilePath: '/etc/webide-audit/siem-ca.pem' } as const;

/** The statements of a rendered config without its comments. */
const statements = (conf: string) => conf.split('\n').filter((line) => !/^\s*#/.test(line)).join('\n');

describe('renderRsyslogConf', () => {
  const conf = renderRsyslogConf({});

  it('listens on every address of the container, UDP and TCP, on the exported ports', () => {
    expect(AUDIT_SINK_PORTS).toEqual({ udp: 5514, tcp: 5514 });
    expect(conf).toContain('input(type="imudp" name="audit-udp" address="0.0.0.0" port="5514" ruleset="webide-audit")');
    expect(conf).toContain('input(type="imtcp" name="audit-tcp" address="0.0.0.0" port="5514" ruleset="webide-audit")');
    expect(statements(conf).match(/input\(/g)).toHaveLength(2);
  });

  it('works in the container\'s directories, takes messages up to 64 KiB and looks up no names', () => {
    expect(conf).toContain(`global(workDirectory="${AUDIT_SINK_PATHS.workDir}" maxMessageSize="65536" net.enableDNS="off")`);
  });

  it('routes each source\'s tag to <logDir>/<UTC receive day>/<source>.jsonl, 0750 directories and 0640 files', () => {
    for (const { tag, source } of AUDIT_SOURCES) {
      expect(conf).toContain(`template(name="webide-audit-path-${source}" type="string" string="/var/log/webide/audit/%timegenerated:1:10:date-rfc3339,date-utc%/${source}.jsonl")`);
      expect(conf).toContain(
        `  if $programname == "${tag}" then {\n    action(type="omfile" name="audit-${source}" dynaFile="webide-audit-path-${source}" template="webide-audit-line" dirCreateMode="0750" fileCreateMode="0640" createDirs="on")\n    stop\n  }`,
      );
    }
    expect(AUDIT_SOURCES.map((s) => s.source)).toEqual(['nginx-access', 'keycloak', 'docker-events', 'squid']);
  });

  it('sends every other tag to other.jsonl, wrapped with rsyslog\'s JSON escaping, as the ruleset\'s last action', () => {
    const ruleset = conf.slice(conf.indexOf('ruleset(name="webide-audit")'));
    const lastAction = ruleset.split('\n').filter((l) => l.includes('action(')).pop();
    expect(lastAction).toBe(`  action(type="omfile" name="audit-${AUDIT_OTHER_SOURCE}" dynaFile="webide-audit-path-other" template="webide-audit-other" dirCreateMode="0750" fileCreateMode="0640" createDirs="on")`);
    expect(conf).toContain('property(name="$.line" format="json")');
  });

  it('writes the message itself: leading spaces and a UTF-8 BOM removed, then a newline', () => {
    expect(conf).toContain('set $.line = ltrim($msg);');
    expect(conf).toContain('if substring($.line, 0, 3) == "\\xEF\\xBB\\xBF" then {');
    expect(conf).toContain('template(name="webide-audit-line" type="list") {\n  property(name="$.line")\n  constant(value="\\n")\n}');
  });

  it('forwards nothing and names no CA unless forwarding is configured', () => {
    expect(conf).not.toMatch(/omfwd|gtls|NetstreamDriver|webide-audit-forward/i);
  });

  it('with forwarding: omfwd over TLS (gtls, mode 1, x509/name), the host as permitted peer, the CA as the global default', () => {
    const withForward = renderRsyslogConf({ forward: FORWARD });
    expect(withForward).toContain(`defaultNetstreamDriverCAFile="${FORWARD.caFilePath}"`);
    const action = /action\(type="omfwd"[^)]*\)/.exec(withForward)?.[0] ?? '';
    for (const setting of [
      'target="siem.bank.example"',
      'port="6514"',
      'protocol="tcp"',
      'TCP_Framing="octet-counted"',
      'template="webide-audit-forward"',
      'StreamDriver="gtls"',
      'StreamDriverMode="1"',
      'StreamDriverAuthMode="x509/name"',
      'StreamDriverPermittedPeers="siem.bank.example"',
      'StreamDriver.CheckExtendedKeyPurpose="on"',
    ]) {
      expect(action).toContain(setting);
    }
  });

  it('with forwarding: a bounded disk-assisted queue that never blocks local writing and keeps records across restarts', () => {
    const action = /action\(type="omfwd"[^)]*\)/.exec(renderRsyslogConf({ forward: { ...FORWARD, queueMaxMessages: 500, queueMaxDiskMiB: 64 } }))?.[0] ?? '';
    for (const setting of ['queue.type="LinkedList"', 'queue.filename="siem"', 'queue.size="500"', 'queue.maxDiskSpace="64m"', 'queue.saveOnShutdown="on"', 'queue.timeoutEnqueue="0"', 'action.resumeRetryCount="-1"']) {
      expect(action).toContain(setting);
    }
  });

  it('with forwarding: every record is forwarded (the action comes before any routing), as RFC 5424 with its original tag', () => {
    const withForward = renderRsyslogConf({ forward: { ...FORWARD, permittedPeer: 'siem-cluster.bank.example' } });
    expect(withForward).toContain('StreamDriverPermittedPeers="siem-cluster.bank.example"');
    expect(withForward.indexOf('type="omfwd"')).toBeLessThan(withForward.indexOf('if $programname'));
    expect(withForward).toMatch(/template\(name="webide-audit-forward" type="list"\) \{\n {2}constant\(value="<"\) property\(name="pri"\) constant\(value=">1 "\)[\s\S]*property\(name="app-name"\)[\s\S]*property\(name="\$\.line"\)\n\}/);
  });

  it('is deterministic and does not depend on the order of the sources', () => {
    const input: AuditSinkInput = { forward: FORWARD, sources: [...AUDIT_SOURCES] };
    const reversed: AuditSinkInput = { ...input, sources: [...input.sources!].reverse() };
    expect(renderRsyslogConf(input)).toBe(renderRsyslogConf(input));
    expect(renderRsyslogConf(reversed)).toBe(renderRsyslogConf(input));
  });

  it('a new sender is one entry: one more route and one more file, nothing else changes', () => {
    const more = renderRsyslogConf({ sources: [...AUDIT_SOURCES, { tag: 'pgaudit', source: 'postgres-audit' }] });
    const added = more.split('\n').filter((line) => !conf.split('\n').includes(line));
    expect(added).toEqual([
      'template(name="webide-audit-path-postgres-audit" type="string" string="/var/log/webide/audit/%timegenerated:1:10:date-rfc3339,date-utc%/postgres-audit.jsonl")',
      '  if $programname == "pgaudit" then {',
      '    action(type="omfile" name="audit-postgres-audit" dynaFile="webide-audit-path-postgres-audit" template="webide-audit-line" dirCreateMode="0750" fileCreateMode="0640" createDirs="on")',
    ]);
  });

  it.each<[string, AuditSinkInput, RegExp]>([
    ['a port out of range', { udpPort: 70000 }, /udpPort 70000 is not a port/],
    ['a listen address that is not IPv4', { listenAddress: 'localhost' }, /listenAddress "localhost"/],
    ['a relative log directory', { logDir: 'audit' }, /logDir "audit" must be an absolute path/],
    ['a path that would break the quoting', { workDir: '/var/lib/a"b' }, /workDir/],
    ['a path with ..', { logDir: '/var/log/../etc' }, /without '\.\.'/],
    ['no sources', { sources: [] }, /sources is empty/],
    ['a tag listed twice', { sources: [...AUDIT_SOURCES, { tag: 'nginx', source: 'nginx-error' }] }, /tag "nginx" is listed twice/],
    ['a source listed twice', { sources: [...AUDIT_SOURCES, { tag: 'nginx2', source: 'keycloak' }] }, /source "keycloak" is listed twice/],
    ['the reserved source "other"', { sources: [{ tag: 'x', source: 'other' }] }, /reserved/],
    ['a source that is not a file name', { sources: [{ tag: 'x', source: '../x' }] }, /kebab-case/],
    ['a tag with a quote', { sources: [{ tag: 'a"b', source: 'x' }] }, /tag "a"b"/],
    ['a forward host with a space', { forward: { ...FORWARD, host: 'siem bank' } }, /forward.host "siem bank"/],
    ['a forward CA path that is relative', { forward: { ...FORWARD, caFilePath: 'ca.pem' } }, /forward.caFilePath/],
    ['a queue of no messages', { forward: { ...FORWARD, queueMaxMessages: 0 } }, /queueMaxMessages 0/],
  ])('refuses %s, naming it', (_what, input, message) => {
    expect(() => renderRsyslogConf(input)).toThrow(message);
  });
});

describe('auditSinkEnvironment and nginxAuditSyslogTarget', () => {
  it('sets the retention and the pruning interval the entrypoint reads', () => {
    expect(auditSinkEnvironment({ retentionDays: 400 })).toEqual([`${AUDIT_SINK_ENV.pruneIntervalSeconds}=3600`, `${AUDIT_SINK_ENV.retentionDays}=400`]);
    expect(auditSinkEnvironment({ retentionDays: 30, pruneIntervalSeconds: 60 })).toEqual(['WEBIDE_AUDIT_PRUNE_INTERVAL_SECONDS=60', 'WEBIDE_AUDIT_RETENTION_DAYS=30']);
    expect(() => auditSinkEnvironment({ retentionDays: 0 })).toThrow(/retentionDays 0/);
    expect(() => auditSinkEnvironment({ retentionDays: 1.5 })).toThrow(/retentionDays 1.5/);
  });

  it('points nginx at the sink\'s UDP port with the nginx tag, local5 and no host name', () => {
    expect(nginxAuditSyslogTarget('10.202.0.60')).toBe('syslog:server=10.202.0.60:5514,facility=local5,tag=nginx,nohostname');
    expect(() => nginxAuditSyslogTarget('a b')).toThrow(/sinkAddress "a b"/);
  });
});

describe('rsyslogd -N1 (the real rsyslog 8.2302) accepts the rendered config', () => {
  let dir = '';
  beforeAll(() => {
    dir = tempDir('check');
    fs.mkdirSync(path.join(dir, 'work'));
    fs.writeFileSync(path.join(dir, 'ca.pem'), '');
  });
  const paths = () => ({ logDir: path.join(dir, 'logs'), workDir: path.join(dir, 'work') });
  const check = (name: string, text: string) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, text);
    return rsyslogCheck(file);
  };

  it('without forwarding', () => {
    const result = check('plain.conf', renderRsyslogConf(paths()));
    expect(result.output).toContain('End of config validation run');
    expect(result.status).toBe(0);
  });

  it('with forwarding, and with a fifth source', () => {
    const input: AuditSinkInput = { ...paths(), forward: { ...FORWARD, caFilePath: path.join(dir, 'ca.pem') }, sources: [...AUDIT_SOURCES, { tag: 'pgaudit', source: 'postgres-audit' }] };
    const result = check('forward.conf', renderRsyslogConf(input));
    expect(result.output).toContain('End of config validation run');
    expect(result.status).toBe(0);
  });

  it('(the check can fail: a misspelt parameter is refused)', () => {
    const broken = renderRsyslogConf({ ...paths(), forward: { ...FORWARD, caFilePath: path.join(dir, 'ca.pem') } }).replace('StreamDriverAuthMode=', 'StreamDriverAuthMod=');
    const result = check('broken.conf', broken);
    expect(result.status).not.toBe(0);
    expect(result.output).toMatch(/StreamDriverAuthMod.*not known/);
  });
});

// -------------------------------------------------------------------------------------------
// The real rsyslogd on the rendered config, on loopback, fed the way each sender sends:
// the real nginx (access_log to syslog over UDP), Keycloak's syslog handler (its TCP frames,
// byte for byte; Keycloak itself does not run here), and `logger --tcp` as the Docker-events
// collector runs it. The egress proxy's tag (squid) and an unknown tag check the routing.
// -------------------------------------------------------------------------------------------

describe('the real rsyslogd with the rendered config, fed as each sender sends', () => {
  let dir = '';
  let logDir = '';
  let port = 0;
  let sink: RunningRsyslogd | undefined;
  let nginx: Awaited<ReturnType<typeof startNginx>> | undefined;
  let nginxPort = 0;
  let nginxDir = '';
  let firstDay = '';
  let zone = '';
  const file = (source: string, day = firstDay) => path.join(logDir, day, `${source}.jsonl`);

  beforeAll(async () => {
    dir = tempDir('run');
    logDir = path.join(dir, 'logs');
    fs.mkdirSync(path.join(dir, 'work'));
    port = await freePort();
    firstDay = utcDay(Date.now());
    const conf = renderRsyslogConf({
      listenAddress: '127.0.0.1',
      udpPort: port,
      tcpPort: port,
      logDir,
      workDir: path.join(dir, 'work'),
    });
    // rsyslogd runs in a time zone whose date is not UTC's, so the day directories show which it uses.
    zone = zoneOffDay(Date.now());
    sink = await startRsyslogd(dir, 'sink', conf, port, { TZ: zone });

    // The real nginx: one request logged twice with the same escape=json format, to a file
    // and to the sink, so the sink's line can be compared with what nginx wrote itself.
    nginxDir = tempDir('nginx');
    nginxPort = await freePort();
    const format = `'{"time":"$time_iso8601","server":"ai-gateway","client":"$remote_addr","user":"$http_x_user",'
                    '"method":"$request_method","uri":"$uri","status":$status}'`;
    nginx = startNginx(
      nginxDir,
      [
        'events {}',
        'http {',
        `  log_format audit escape=json ${format};`,
        `  access_log ${path.join(nginxDir, 'access.jsonl')} audit;`,
        `  access_log ${nginxAuditSyslogTarget('127.0.0.1', port)} audit;`,
        `  server { listen 127.0.0.1:${nginxPort}; location / { return 200 "ok\\n"; } }`,
        '}',
        '',
      ].join('\n'),
    );
  }, 60_000);

  afterAll(async () => {
    if (nginx) await stopProcess(nginx.nginx);
    if (sink) await stopProcess(sink.child);
  }, 30_000);

  /** One request to the real nginx, with the user header as given (latin1 bytes, so UTF-8 passes through). */
  const requestNginx = (user: string) =>
    new Promise<number>((resolve, reject) => {
      const req = http.request(
        { host: '127.0.0.1', port: nginxPort, path: '/v1/chat/completions', method: 'POST', headers: { 'x-user': Buffer.from(user, 'utf8').toString('latin1') }, timeout: 10_000 },
        (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        },
      );
      req.on('error', reject);
      req.end();
    });

  it('nginx (UDP, RFC 3164 without host name): the line is exactly what nginx wrote to its own log', async () => {
    for (let attempt = 0; ; attempt++) {
      try {
        expect(await requestNginx('zoë "the admin" \\ alice')).toBe(200);
        break;
      } catch (error) {
        if (attempt > 40) throw new Error(`nginx did not answer: ${(error as Error).message}\n${tail(nginx!.logPath)}`);
        await sleep(250);
      }
    }
    const own = await waitForLines(path.join(nginxDir, 'access.jsonl'), (lines) => lines.length === 1, nginx!.logPath);
    const lines = await waitForLines(file('nginx-access'), (l) => l.length === 1, sink!.logPath);
    expect(lines).toEqual(own);
    expect(JSON.parse(lines[0])).toMatchObject({ server: 'ai-gateway', client: '127.0.0.1', user: 'zoë "the admin" \\ alice', method: 'POST', uri: '/v1/chat/completions', status: 200 });
  }, 30_000);

  it('nginx\'s wire format as written by hand (the <174>, local5.info, that nginx sends) lands the same way', async () => {
    const json = '{"time":"2026-12-03T12:00:00+00:00","server":"entry","ide":"alice","client":"10.1.2.3","user":"alice","status":302}';
    await sendUdp(port, Buffer.from(`<174>Dec  3 12:00:00 nginx: ${json}`));
    const lines = await waitForLines(file('nginx-access'), (l) => l.length === 2, sink!.logPath);
    expect(lines[1]).toBe(json);
  }, 20_000);

  it('Keycloak (TCP, octet-counted RFC 5424 with a BOM, one connection): each record is exactly its JSON', async () => {
    const login = JSON.stringify({
      timestamp: '2026-12-03T12:00:00.123Z',
      sequence: 7,
      loggerClassName: 'org.jboss.logging.Logger',
      loggerName: 'org.keycloak.events',
      level: 'DEBUG',
      message: 'type="LOGIN", realmId="b1e6", clientId="oauth2-proxy", userId="5a1f", ipAddress="10.1.2.3", username="zoë"',
      threadName: 'executor-thread-1',
      hostName: 'keycloak',
      processName: 'QuarkusEntryPoint',
      processId: 42,
    });
    const admin = JSON.stringify({ loggerName: 'org.keycloak.events', level: 'DEBUG', message: 'operationType="UPDATE", resourcePath="users/5a1f", path="C:\\\\temp"' });
    await sendTcp(port, Buffer.concat([keycloakSyslogFrame(login), keycloakSyslogFrame(admin, { trailingNewline: true })]));
    const lines = await waitForLines(file('keycloak'), (l) => l.length === 2, sink!.logPath);
    expect(lines).toEqual([login, admin]);
    expect(JSON.parse(lines[0]).message).toContain('username="zoë"');
  }, 20_000);

  it('Docker events (`logger --tcp`, newline framing): exactly the event JSON, also past logger\'s 1 KiB default with --size', async () => {
    const start = JSON.stringify({ status: 'start', id: 'c0ffee', from: 'webide-local/ide:4.117.0', Type: 'container', Action: 'start', Actor: { ID: 'c0ffee', Attributes: { name: 'webide-ide-alice' } }, time: 1_796_313_600 });
    const big = JSON.stringify({ status: 'create', Type: 'container', Actor: { Attributes: Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`label.${i}`, 'x'.repeat(40)])) } });
    expect(big.length).toBeGreaterThan(3000);
    for (const event of [start, big]) {
      const sent = spawnSync('logger', ['--tcp', '-n', '127.0.0.1', '-P', String(port), '-t', 'docker-events', '--size', '65536', event], { encoding: 'utf8', timeout: 10_000 });
      expect(sent.status).toBe(0);
    }
    const lines = await waitForLines(file('docker-events'), (l) => l.length === 2, sink!.logPath);
    expect(lines).toEqual([start, big]);
  }, 20_000);

  it('the egress proxy\'s tag (squid) gets its own file', async () => {
    const sent = spawnSync('logger', ['--udp', '-n', '127.0.0.1', '-P', String(port), '-t', 'squid', '{"squid":"TCP_DENIED/403"}'], { encoding: 'utf8', timeout: 10_000 });
    expect(sent.status).toBe(0);
    expect(await waitForLines(file('squid'), (l) => l.length === 1, sink!.logPath)).toEqual(['{"squid":"TCP_DENIED/403"}']);
  }, 20_000);

  it('an unknown tag goes to other.jsonl, wrapped as one JSON object (tag and message), nothing lost', async () => {
    const before = Date.now();
    const text = 'not json: "quoted" \\ back ünï';
    const sent = spawnSync('logger', ['--tcp', '-n', '127.0.0.1', '-P', String(port), '-t', 'someone-else', text], { encoding: 'utf8', timeout: 10_000 });
    expect(sent.status).toBe(0);
    const lines = await waitForLines(file(AUDIT_OTHER_SOURCE), (l) => l.length === 1, sink!.logPath);
    const record = JSON.parse(lines[0]);
    expect(record).toEqual({ received: expect.any(String), from: '127.0.0.1', tag: 'someone-else', msg: text });
    expect(Date.parse(record.received)).toBeGreaterThanOrEqual(before - 1000);
    expect(record.received).toMatch(/\+00:00$/);
  }, 20_000);

  it('one day directory, named by the UTC receive day (rsyslogd runs in another zone), holding only the expected files, 0750 and 0640, owned by rsyslogd\'s user', () => {
    const days = fs.readdirSync(logDir);
    const localDay = new Intl.DateTimeFormat('en-CA', { timeZone: zone }).format(Date.now());
    expect(localDay).not.toBe(firstDay);
    expect(days).not.toContain(localDay);
    // A run that crosses midnight UTC may hold the next day too; every record is in one of them.
    expect(days.every((d) => d === firstDay || d === utcDay(Date.now()))).toBe(true);
    expect(days).toContain(firstDay);
    const files = days.flatMap((d) => fs.readdirSync(path.join(logDir, d))).sort();
    expect([...new Set(files)]).toEqual(['docker-events.jsonl', 'keycloak.jsonl', 'nginx-access.jsonl', 'other.jsonl', 'squid.jsonl']);
    const dirStat = fs.statSync(path.join(logDir, firstDay));
    expect(dirStat.mode & 0o777).toBe(0o750);
    for (const f of fs.readdirSync(path.join(logDir, firstDay))) {
      const st = fs.statSync(path.join(logDir, firstDay, f));
      expect({ f, mode: st.mode & 0o777, uid: st.uid }).toEqual({ f, mode: 0o640, uid: process.getuid!() });
    }
    // Each line of each file is one JSON object.
    for (const f of files) for (const line of readLines(path.join(logDir, firstDay, f))) expect(() => JSON.parse(line)).not.toThrow();
  });
});

// -------------------------------------------------------------------------------------------
// Forwarding over TLS to a STAND-IN for the SIEM (a second rsyslogd receiving syslog over TLS
// on loopback, with a certificate from a throwaway CA): a record reaches it; a sink that expects
// another peer name, or trusts another CA, sends nothing and still writes locally; a SIEM outage
// keeps records queued across a restart of the sink and delivers them once the SIEM is back.
// -------------------------------------------------------------------------------------------

describe('forwarding to the SIEM over TLS (RFC 5425), against a stand-in SIEM', () => {
  const PEER = 'siem.test.example';
  let dir = '';
  let ca: ReturnType<typeof testCa>;
  let otherCa: ReturnType<typeof testCa>;
  let server: { cert: string; key: string };
  const running: RunningRsyslogd[] = [];
  let siem: { port: number; received: string; process: RunningRsyslogd } | undefined;

  async function startSiem(name: string, port: number) {
    const work = path.join(dir, `${name}-work`);
    fs.mkdirSync(work);
    const received = path.join(dir, `${name}-received.log`);
    const proc = await startRsyslogd(dir, name, siemStandInConf({ port, caFile: ca.cert, cert: server.cert, key: server.key, workDir: work, receivedPath: received }), port);
    running.push(proc);
    return { port, received, process: proc };
  }

  async function startSink(name: string, forward: { port: number; caFilePath: string; permittedPeer: string }, tcpPort?: number) {
    const port = tcpPort ?? (await freePort());
    const work = path.join(dir, `${name}-work`);
    fs.mkdirSync(work, { recursive: true });
    const logDir = path.join(dir, `${name}-logs`);
    const conf = renderRsyslogConf({
      listenAddress: '127.0.0.1',
      udpPort: port,
      tcpPort: port,
      logDir,
      workDir: work,
      forward: { host: '127.0.0.1', retryIntervalSeconds: 1, ...forward },
    });
    const proc = await startRsyslogd(dir, name, conf, port);
    running.push(proc);
    return { port, logDir, work, process: proc, localFile: (source: string) => path.join(logDir, utcDay(Date.now()), `${source}.jsonl`) };
  }

  const sendEvent = (port: number, json: string) =>
    expect(spawnSync('logger', ['--tcp', '-n', '127.0.0.1', '-P', String(port), '-t', 'docker-events', json], { encoding: 'utf8', timeout: 10_000 }).status).toBe(0);

  /** RFC 5424 as received: <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG. */
  const parse5424 = (line: string) => {
    const m = /^<(\d+)>1 (\S+) (\S+) (\S+) (\S+) (\S+) (-|\[.*?\](?:\[.*?\])*) (.*)$/.exec(line);
    return m && { pri: Number(m[1]), host: m[3], app: m[4], procid: m[5], msgid: m[6], msg: m[8] };
  };

  beforeAll(async () => {
    dir = tempDir('tls');
    ca = testCa(path.join(dir, 'pki'), 'bank');
    otherCa = testCa(path.join(dir, 'pki-other'), 'other');
    server = ca.issue(PEER);
    siem = await startSiem('siem', await freePort());
  }, 60_000);

  afterAll(async () => {
    for (const proc of running) await stopProcess(proc.child);
  }, 60_000);

  it('a record sent to the sink arrives at the SIEM as RFC 5424 with its tag and exact message, and is kept locally', async () => {
    const sink = await startSink('sink-ok', { port: siem!.port, caFilePath: ca.cert, permittedPeer: PEER });
    const event = '{"status":"die","id":"tls-ok","Actor":{"Attributes":{"name":"webide-ide-alice"}}}';
    sendEvent(sink.port, event);
    const keycloak = '{"loggerName":"org.keycloak.events","message":"type=\\"LOGIN_ERROR\\", error=\\"invalid_user_credentials\\""}';
    await sendTcp(sink.port, keycloakSyslogFrame(keycloak));
    const nginx = '{"server":"ai-gateway","user":"bob","status":429}';
    await sendUdp(sink.port, Buffer.from(`<174>Dec  3 12:00:00 nginx: ${nginx}`));

    const received = await waitForLines(siem!.received, (l) => l.length >= 3, sink.process.logPath, 15_000);
    const byApp = new Map(received.map((line) => [parse5424(line)?.app, parse5424(line)]));
    expect(byApp.get('docker-events')).toMatchObject({ pri: 13, msg: event });
    expect(byApp.get('keycloak')).toMatchObject({ pri: 14, procid: '4242', msgid: 'org.keycloak.events', msg: keycloak });
    expect(byApp.get('nginx')).toMatchObject({ pri: 174, host: '127.0.0.1', msg: nginx });
    expect(await waitForLines(sink.localFile('docker-events'), (l) => l.length === 1, sink.process.logPath)).toEqual([event]);
  }, 40_000);

  it('a wrong peer name or an untrusted CA: nothing reaches the SIEM, the sink says why, and still writes locally', async () => {
    const wrongPeer = await startSink('sink-wrong-peer', { port: siem!.port, caFilePath: ca.cert, permittedPeer: 'other.test.example' });
    const wrongCa = await startSink('sink-wrong-ca', { port: siem!.port, caFilePath: otherCa.cert, permittedPeer: PEER });
    sendEvent(wrongPeer.port, '{"id":"refused-peer"}');
    sendEvent(wrongCa.port, '{"id":"refused-ca"}');
    expect(await waitForLines(wrongPeer.localFile('docker-events'), (l) => l.length === 1, wrongPeer.process.logPath)).toEqual(['{"id":"refused-peer"}']);
    expect(await waitForLines(wrongCa.localFile('docker-events'), (l) => l.length === 1, wrongCa.process.logPath)).toEqual(['{"id":"refused-ca"}']);
    // The sinks retry every second: give them several tries.
    await sleep(5_000);
    expect(readLines(siem!.received).filter((l) => l.includes('refused-'))).toEqual([]);
    expect(fs.readFileSync(wrongPeer.process.logPath, 'utf8')).toMatch(/peer name not authorized/);
    expect(fs.readFileSync(wrongCa.process.logPath, 'utf8')).toMatch(/certificate invalid: signer not found/);
  }, 60_000);

  it('a SIEM outage: records are written locally, queued on disk across a restart of the sink, and delivered when the SIEM is back', async () => {
    const laterPort = await freePort(); // nothing listens there yet
    const first = await startSink('sink-outage', { port: laterPort, caFilePath: ca.cert, permittedPeer: PEER });
    sendEvent(first.port, '{"id":"queued-during-outage"}');
    expect(await waitForLines(first.localFile('docker-events'), (l) => l.length === 1, first.process.logPath)).toEqual(['{"id":"queued-during-outage"}']);
    await stopProcess(first.process.child);
    expect(fs.readdirSync(first.work).filter((f) => f.startsWith('siem.'))).not.toEqual([]);

    const late = await startSiem('siem-late', laterPort);
    const second = await startSink('sink-outage', { port: laterPort, caFilePath: ca.cert, permittedPeer: PEER }, first.port);
    const received = await waitForLines(late.received, (l) => l.some((line) => line.includes('queued-during-outage')), second.process.logPath, 20_000);
    expect(received.map((line) => parse5424(line)?.msg)).toContain('{"id":"queued-during-outage"}');
  }, 60_000);
});
