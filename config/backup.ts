import { z } from 'zod';

/**
 * Where the backups go. A path is a directory on the Docker host, bind-mounted into the backup
 * container (root's, mode 0700: the container writes it as root). A URL is a restic REST server
 * (`rest:https://host[:port]/path`); it holds no credentials, since estate.yaml is committed.
 */
export type BackupRepository = { readonly kind: 'path'; readonly hostPath: string } | { readonly kind: 'rest'; readonly url: string };

/** Characters a host path may hold: Docker's `--mount` splits on `,` and `=`, and a path is one argument. */
const HOST_PATH = /^(\/[A-Za-z0-9._@+-]+)+$/;

/** The repository named by `backup.repository`, or a message saying what is wrong with it. */
export function parseBackupRepository(text: string): BackupRepository | { readonly error: string } {
  if (text.startsWith('/')) {
    if (!HOST_PATH.test(text)) {
      return { error: 'must be an absolute path of letters, digits and . _ @ + - (no trailing /, no , = or spaces), or a rest:https:// URL' };
    }
    if (text.split('/').some((part) => part === '.' || part === '..')) return { error: 'must be a path without . or .. parts' };
    return { kind: 'path', hostPath: text };
  }
  if (text.startsWith('rest:')) {
    let url: URL;
    try {
      url = new URL(text.slice('rest:'.length));
    } catch {
      return { error: 'must be a rest: URL such as rest:https://backup.corp.example:8000/webide' };
    }
    if (url.protocol !== 'https:') return { error: 'must use https (rest:https://…): the REST server is reached across the network' };
    if (url.username || url.password) {
      return { error: 'must not hold credentials: estate.yaml is committed (authenticate the REST server another way, e.g. by network or TLS client certificate)' };
    }
    if (url.search || url.hash) return { error: 'must not have a query or fragment' };
    return { kind: 'rest', url: text };
  }
  return { error: 'must be an absolute path on the Docker host or a rest:https:// URL' };
}

const repository = z.string().superRefine((text, ctx) => {
  const parsed = parseBackupRepository(text);
  if ('error' in parsed) ctx.addIssue({ code: 'custom', message: parsed.error });
});

/**
 * The estate's `backup` section: encrypted restic backups of the Keycloak database and of every
 * home volume, daily, with retention (see images/backup and constructs/backup.ts). The repository's
 * password is the sensitive variable `backup_repository_password`, never in this file.
 *
 * ```yaml
 * backup:
 *   repository: /srv/webide-backup     # or rest:https://backup.corp.example:8000/webide
 *   schedule: "02:30"                  # UTC
 *   keep: { daily: 7, weekly: 4, monthly: 12 }
 * ```
 */
export const backupConfig = z.strictObject({
  /** An absolute path on the Docker host, or `rest:https://…` (a restic REST server, no credentials in it). */
  repository,
  /** Time of day (UTC, `HH:MM`) of the daily backup. Quote it in YAML: `"02:30"`. */
  schedule: z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be a UTC time of day HH:MM such as "02:30" (quoted)').default('02:00'),
  /** Snapshots kept per tag group (the database; each user's home), as restic forget's --keep-*. */
  keep: z.strictObject({
    /** The last snapshot of each of this many days. At least 1. */
    daily: z.number().int().min(1, 'must be at least 1').max(3660),
    /** The last snapshot of each of this many weeks. 0: none by week. */
    weekly: z.number().int().min(0).max(520),
    /** The last snapshot of each of this many months. 0: none by month. */
    monthly: z.number().int().min(0).max(1200),
  }).default({ daily: 7, weekly: 4, monthly: 12 }),
});

/** The validated `backup` section. */
export type BackupConfig = z.output<typeof backupConfig>;
