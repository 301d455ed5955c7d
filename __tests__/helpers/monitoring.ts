import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { auditLogGlobs, mtailArgs } from '../../render/monitoring';

/**
 * A Debian tool the monitoring tests run for real (scripts/setup.sh installs them, so the
 * checks never skip in CI): promtool and prometheus (package prometheus), amtool and
 * prometheus-alertmanager (prometheus-alertmanager), mtail, the node and nginx exporters.
 */
export function debianTool(command: string, pkg: string): string {
  const binary = `/usr/bin/${command}`;
  if (!fs.existsSync(binary)) throw new Error(`${command} is not installed: run \`apt-get install --no-install-recommends ${pkg}\` (scripts/setup.sh does)`);
  return binary;
}

/** Runs a tool to completion (bounded); stdout and stderr together, as a person would read them. */
export function runTool(binary: string, args: readonly string[], cwd: string): { status: number; output: string } {
  const result = spawnSync(binary, args, { cwd, encoding: 'utf8', timeout: 60_000, env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: cwd } });
  return { status: result.status ?? -1, output: `${result.stdout ?? ''}${result.stderr ?? ''}` };
}

/** A scratch directory for one test's files; remove it with removeSandbox. */
export function monitoringSandbox(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'webide-monitoring-'));
}

export function removeSandbox(dir: string): void {
  if (dir.startsWith(os.tmpdir())) fs.rmSync(dir, { recursive: true, force: true });
}

/** Writes files (relative path → text) under dir, creating directories. */
export function writeFiles(dir: string, files: Record<string, string>): void {
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), text);
  }
}

/** One sample of Prometheus's text exposition format. */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

/** The samples of a Prometheus text exposition (comments skipped, label values unescaped). */
export function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[l[1]] = l[2].replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return samples;
}

/** The value of the one sample with exactly these labels; undefined when there is none. */
export function valueOf(samples: readonly Sample[], name: string, labels: Record<string, string>): number | undefined {
  const want = Object.entries(labels).sort();
  const found = samples.filter((s) => s.name === name && JSON.stringify(Object.entries(s.labels).sort()) === JSON.stringify(want));
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} with labels ${JSON.stringify(labels)}`);
  return found[0]?.value;
}

/**
 * Runs the real mtail once over audit records laid out as the audit sink keeps them
 * (`<dir>/audit/<day>/<source>.jsonl`, read through the production glob patterns), with the
 * production flags (mtailArgs) plus --one_shot, and returns what it would export to Prometheus.
 */
export function mtailOneShot(
  dir: string,
  programs: Record<string, string>,
  records: Record<string, string>,
): { status: number; output: string; samples: Sample[] } {
  const progsDir = path.join(dir, 'progs');
  const auditDir = path.join(dir, 'audit');
  fs.mkdirSync(progsDir, { recursive: true });
  writeFiles(progsDir, programs);
  writeFiles(auditDir, records);
  const args = [
    ...mtailArgs({ progsDir, logs: auditLogGlobs(auditDir), address: '127.0.0.1', port: 0 }),
    '--one_shot',
    '--one_shot_format=prometheus',
  ];
  const result = spawnSync(debianTool('mtail', 'mtail'), args, { cwd: dir, encoding: 'utf8', timeout: 60_000, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
  const status = result.status ?? -1;
  return { status, output: `${result.stdout ?? ''}${result.stderr ?? ''}`, samples: status === 0 ? parseExposition(result.stdout) : [] };
}
