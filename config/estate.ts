import { z } from 'zod';
import { cpuCount, duration, durationSeconds, sizeMiB } from './units';
import { asList as list, asRecord as record, RuleIssue } from './raw';
import { cidrsOverlap, isNetworkAddress, MAX_SUBNET_PREFIX, parseCidr } from './subnets';
import { backupConfig } from './backup';
import { egressConfig, egressRules } from './egress';
import { gpuId } from './gpus';
import { DEPLOY_TARGETS, swarmConfig, swarmRules } from './swarm';
import { MAX_WORKSPACE_SHARDS } from './shards';

/**
 * An image reference that cannot drift: a tag other than `latest`, ideally a digest.
 * `registry:5000/team/name:1.2.3@sha256:<64 hex>`
 */
const IMAGE_PATTERN =
  /^(?<name>[a-z0-9]+(?:[._-][a-z0-9]+)*(?::\d+)?(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*)(?::(?<tag>[\w][\w.-]{0,127}))?(?:@(?<digest>sha256:[a-f0-9]{64}))?$/;

export const imageReference = z
  .string()
  .regex(IMAGE_PATTERN, 'must be an image reference such as registry/name:1.2.3 or registry/name@sha256:<digest>')
  .refine((ref) => {
    const groups = IMAGE_PATTERN.exec(ref)?.groups;
    return !groups || groups.tag !== undefined || groups.digest !== undefined;
  }, 'must be pinned: add a tag (a digest is better)')
  .refine((ref) => IMAGE_PATTERN.exec(ref)?.groups?.tag !== 'latest', "must not use the moving tag 'latest'");

export function imageDigest(ref: string): string | undefined {
  return IMAGE_PATTERN.exec(ref)?.groups?.digest;
}

/** The parts of an image reference (`name[:tag][@digest]`); undefined when it is not one. */
export function imageParts(ref: string): { name: string; tag?: string; digest?: string } | undefined {
  const groups = IMAGE_PATTERN.exec(ref)?.groups;
  return groups && { name: groups.name, tag: groups.tag, digest: groups.digest };
}

/** The estate's own service names: users may not take them (they are also host names on the networks). */
export const RESERVED_NAMES = ['nginx', 'keycloak', 'postgres', 'litellm', 'tabby', 'vllm', 'oauth2-proxy', 'admin', 'root'] as const;

/** The networks nginx has a fixed address on, each with its own subnet. */
export const FIXED_SUBNET_FIELDS = ['edgeSubnet', 'identitySubnet', 'aiSubnet'] as const;
export type FixedSubnetField = (typeof FIXED_SUBNET_FIELDS)[number];

export const DEFAULT_SUBNETS: Readonly<Record<FixedSubnetField, string>> = {
  edgeSubnet: '172.31.250.0/24',
  identitySubnet: '172.31.251.0/24',
  aiSubnet: '172.31.252.0/24',
};

/** A subnet nginx gets a fixed address in (see config/subnets.ts, subnetPlan). */
const isCidr = (value: string) => z.cidrv4().safeParse(value).success;
const fixedSubnet = z
  .cidrv4()
  .refine((cidr) => !isCidr(cidr) || isNetworkAddress(cidr), 'must be a network address: no host bits set (e.g. 10.202.0.0/28, not 10.202.0.5/28)')
  .refine((cidr) => !isCidr(cidr) || parseCidr(cidr).prefix <= MAX_SUBNET_PREFIX, `must be /${MAX_SUBNET_PREFIX} or larger (Docker hands out the lower half, nginx has a fixed address in the upper)`);

/** LDAP/AD user federation; the bind password is the sensitive variable `directory_bind_password`. */
const directory = z.strictObject({
  /** `ldaps://host:636`, or `ldap://host:389` with `startTls: true` (plain LDAP only in the local profile). */
  url: z.url({ protocol: /^ldaps?$/ }),
  startTls: z.boolean().default(false),
  /** The account Keycloak binds as: read access to the users below `usersDn` is enough. */
  bindDn: z.string().min(3),
  usersDn: z.string().min(3),
  vendor: z.enum(['other', 'ad']).default('other'),
  /** Attribute holding the roster's username (`uid`; `sAMAccountName` on Active Directory). */
  usernameAttribute: z.string().regex(/^[A-Za-z][\w-]*$/).default('uid'),
  /** Stable id of an entry (`entryUUID`; `objectGUID` on Active Directory). */
  uuidAttribute: z.string().regex(/^[A-Za-z][\w-]*$/).default('entryUUID'),
  userObjectClasses: z.array(z.string().regex(/^[A-Za-z][\w-]*$/)).min(1).default(['inetOrgPerson']),
});
export type DirectorySettings = z.output<typeof directory>;

const resources = z.strictObject({
  cpus: cpuCount,
  memory: sizeMiB,
  disk: sizeMiB,
});
export type WorkspaceResources = z.output<typeof resources>;

const extension = z.strictObject({
  /** `publisher.name`, as in the VSIX manifest. */
  id: z.string().regex(/^[a-z0-9][a-z0-9-]*\.[a-z0-9][a-z0-9-]*$/i, 'must be publisher.name'),
  /** Exact version allowed; code-server refuses any other. */
  version: z.string().regex(/^\d+\.\d+\.\d+([-+][\w.]+)?$/, 'must be an exact version such as 1.2.3'),
  /**
   * File name of the VSIX in the directory the IDE image is built from (the bank's mirror).
   * @default - `<id>-<version>.vsix`
   */
  vsix: z.string().regex(/^[\w.+-]+\.vsix$/, 'must be a file name ending in .vsix, without a directory').optional(),
  /**
   * sha256 of that VSIX file, as `sha256sum` prints it. The IDE image build installs the file
   * only if its bytes have this hash. Required unless `sha256Pending` says why it is not known yet.
   */
  sha256: z.string().regex(/^[a-f0-9]{64}$/, 'must be the 64 lowercase hex digits that sha256sum prints').optional(),
  /**
   * Why the hash is not filled in yet (at least 20 characters), e.g. the change that imports the
   * VSIX into the mirror. The allow-list still names the extension, but the IDE image cannot be
   * built while any extension has this instead of `sha256`.
   */
  sha256Pending: z.string().min(20, 'must explain why the hash is not known yet, in at least 20 characters').optional(),
});
export type ExtensionConfig = z.output<typeof extension>;

/** The allowed extensions: the estate's `extensions` list, also read on its own by the IDE image build. */
export const extensionList = z.array(extension).default([]);

/** The VSIX file an extension is installed from. */
export function vsixFileName(ext: { readonly id: string; readonly version: string; readonly vsix?: string }): string {
  return ext.vsix ?? `${ext.id}-${ext.version}.vsix`;
}

/** Requests per minute one user's IDE may send to one kind of AI endpoint, and the burst above it served at once. */
const perUserRate = z.strictObject({
  perMinute: z.number().int().min(1).max(60_000),
  burst: z.number().int().min(0).max(10_000),
});

/** Where the audit sink forwards every record: the bank's SIEM, syslog over TLS (RFC 5425). */
const siemForward = z.strictObject({
  host: z.string().regex(/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z][a-z0-9-]{0,61}[a-z0-9]$/, 'must be a DNS name such as siem.corp.example (its certificate must name it)'),
  port: z.number().int().min(1).max(65535).default(6514),
  /** CA certificate (PEM) that signs the SIEM's certificate, on the Docker host; mounted read-only into the sink. */
  caFile: z.string().startsWith('/', 'must be an absolute path on the Docker host'),
});


/** The estate's operations: audit trail, per-user AI limits, backups, monitoring. */
const operations = z.strictObject({
  audit: z
    .strictObject({
      /** Days the sink keeps its records (one directory per day), then deletes them. */
      retentionDays: z.number().int().min(1).max(3650).default(400),
      /** @default - not forwarded: the records stay in the sink's volume only */
      forward: siemForward.optional(),
    })
    .prefault({}),
  /** Per user (the gateway knows a request's user from the network it came from), at the AI gateway; over it: 429. */
  aiLimits: z
    .strictObject({
      /** Continue: chat, edit and completions through LiteLLM. */
      chat: perUserRate.default({ perMinute: 30, burst: 10 }),
      /** Tabby: autocomplete, fired on typing pauses. */
      completion: perUserRate.default({ perMinute: 600, burst: 40 }),
    })
    .prefault({}),
  /** @default - no backups (the change-approval report flags it) */
  backup: backupConfig.optional(),
  monitoring: z
    .strictObject({
      /** The design documents' target: autocomplete P95 at the gateway at most this (150–250 ms). */
      autocompleteP95Ms: z.number().int().min(50).max(5000).default(250),
      /** DiskFilling fires when a filesystem of the host has less than this percentage free. */
      diskFreePercent: z.number().int().min(1).max(50).default(10),
      /** Alertmanager posts alerts here (the bank's alert router). @default - alerts show in Alertmanager only */
      alertWebhookUrl: z.url({ protocol: /^https?$/ }).optional(),
      /**
       * LiteLLM serves Prometheus metrics at /metrics/ (its `prometheus` callback, without a key, on
       * the AI network only) and Prometheus scrapes them. Its image must hold the prometheus_client
       * package (images/litellm installs the version scripts/litellm-venv.sh pins); LiteLLM does not
       * start with this on and an image without it, so turn it off for such an image.
       */
      litellmMetrics: z.boolean().default(true),
      /** How often Prometheus scrapes its targets and evaluates the rules. */
      scrapeIntervalSeconds: z.number().int().min(5).max(300).default(30),
      /** ServiceDown fires when a target has been down this long. */
      serviceDownForMinutes: z.number().int().min(1).max(60).default(2),
      /** AutocompleteLatencyHigh fires when the P95 has been above the target this long. */
      autocompleteForMinutes: z.number().int().min(1).max(120).default(10),
    })
    .prefault({}),
});
export type OperationsSettings = z.output<typeof operations>;

const suppression = z.strictObject({
  rule: z.string().min(1),
  /**
   * Construct path (or its prefix, in whole segments) the suppression applies to, e.g.
   * `platform/vllm`; `*` matches within one segment: `workspaces*` is the workspaces stack and
   * every workspace shard stack (`workspaces-ws-01` …).
   */
  resource: z.string().min(1),
  reason: z.string().min(20, 'must explain why, in at least 20 characters'),
});

export const estateSchema = z
  .strictObject({
    /** Name prefix for every Docker object (containers, networks, volumes) of this estate. */
    name: z.string().regex(/^[a-z][a-z0-9-]{1,20}$/, 'must be a short lowercase name such as webide'),
    /** `production` needs image digests; `local` is the GPU-less test profile and says so in every label. */
    profile: z.enum(['production', 'local']),
    /**
     * Where the estate runs: `docker`, one Docker engine (`dockerHost`), or `swarm`, the nodes of a
     * Docker Swarm (the `swarm` section), deployed by the same `npm run deploy`. The Swarm target
     * has no audit trail, monitoring, backups or egress proxy yet: synthesis refuses it in the
     * production profile and with those sections (config/swarm.ts, swarmDeployableRules).
     * @default docker
     */
    target: z.enum(DEPLOY_TARGETS).default('docker'),
    domain: z
      .string()
      .regex(/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$/, 'must be a DNS name such as ide.corp.example'),
    /** The HTTPS port nginx publishes; 443 in production. */
    httpsPort: z.number().int().min(1).max(65535).default(443),
    /** The HTTP port nginx publishes, which only redirects to HTTPS. */
    httpPort: z.number().int().min(1).max(65535).default(80),
    /** Docker engine the estate runs on (the provider's `host`). */
    dockerHost: z.string().regex(/^(unix|tcp|ssh):\/\//, 'must be a unix://, tcp:// or ssh:// address').default('unix:///var/run/docker.sock'),
    /** Host address the published ports bind to. */
    bindAddress: z.ipv4().default('0.0.0.0'),
    /**
     * Subnet of the edge network (the one nginx publishes from). Fixing it makes the address
     * a request from the Docker host arrives from (the subnet's first address, the gateway)
     * known before deploy, for `keycloak.adminAllowCidrs` and the bank's firewall rules.
     * Docker hands out the lower half; nginx has the last host address, the only one its
     * TLS entry listens on. A network address, /28 or larger, overlapping no other subnet here.
     * @default 172.31.250.0/24 (the far end of Docker's default pool 172.17.0.0/12, which Docker's own allocation reaches last)
     */
    edgeSubnet: fixedSubnet.default(DEFAULT_SUBNETS.edgeSubnet),
    /**
     * Subnet of the identity network (Keycloak, oauth2-proxy, nginx). Docker hands out the lower
     * half; nginx has the last host address, on which the AI gateway port is refused.
     * @default 172.31.251.0/24
     */
    identitySubnet: fixedSubnet.default(DEFAULT_SUBNETS.identitySubnet),
    /**
     * Subnet of the AI network (LiteLLM, Tabby, vLLM, nginx); split as the identity network's.
     * @default 172.31.252.0/24
     */
    aiSubnet: fixedSubnet.default(DEFAULT_SUBNETS.aiSubnet),
    tls: z.strictObject({
      /** Certificate chain and key on the Docker host, mounted read-only into nginx. */
      certificateFile: z.string().startsWith('/', 'must be an absolute path on the Docker host'),
      keyFile: z.string().startsWith('/', 'must be an absolute path on the Docker host'),
      protocols: z.array(z.enum(['TLSv1.2', 'TLSv1.3'])).min(1).default(['TLSv1.2', 'TLSv1.3']),
      /** Key-exchange groups, strongest first; must be known to the OpenSSL in the nginx image. */
      curves: z.array(z.string().regex(/^[A-Za-z0-9_-]+$/)).min(1).default(['X25519', 'prime256v1', 'secp384r1']),
    }),
    images: z.strictObject({
      nginx: imageReference,
      keycloak: imageReference,
      postgres: imageReference,
      oauth2Proxy: imageReference,
      litellm: imageReference,
      tabby: imageReference,
      vllm: imageReference,
      codeServer: imageReference,
      /** rsyslog: the audit sink and the Docker-events collector (images/audit). */
      audit: imageReference,
      /** restic and the PostgreSQL client: the backup agent and `npm run restore` (images/backup). */
      backup: imageReference,
      /** Prometheus, Alertmanager, the node and nginx exporters and mtail, one container each (images/monitoring). */
      monitoring: imageReference,
      /** Squid: the egress proxy to the bank's declared services (images/egress-proxy). Required with `egress`. */
      egressProxy: imageReference.optional(),
      /**
       * Debian's docker-registry (images/registry): the registry the estate runs on a swarm
       * (swarm.registry.serve), and required there. Its node runs it from its own engine's images
       * (a registry cannot pull itself), so `npm run images:pin` leaves it as it is.
       */
      registry: imageReference.optional(),
    }),
    gpus: z.strictObject({
      /** Every GPU on the host that this estate may use. */
      devices: z.array(gpuId).min(1),
      tabby: z.array(gpuId).min(1),
      vllm: z.array(gpuId).min(1),
      /** Tabby and vLLM must not share a GPU unless this says so (they compete for its memory). */
      allowSharing: z.boolean().default(false),
      /** Docker runtime that enforces NVIDIA_VISIBLE_DEVICES (see README, GPU pinning). */
      runtime: z.string().regex(/^[a-z0-9_-]+$/).default('nvidia'),
    }),
    models: z.strictObject({
      chat: z.strictObject({
        /** The name clients ask LiteLLM for. */
        name: z.string().regex(/^[\w.:-]+$/),
        /** What vLLM serves it as (`--served-model-name`); LiteLLM routes to `openai/<servedName>`. */
        servedName: z.string().min(1),
        /** Model directory on the host, mounted read-only (no hub downloads in a closed network). */
        hostPath: z.string().startsWith('/'),
        maxModelLen: z.number().int().min(512).default(16384),
        gpuMemoryUtilization: z.number().gt(0).max(1).default(0.9),
      }),
      completion: z.strictObject({
        /** Tabby `--model` (a model directory under Tabby's data root or a registry name). */
        model: z.string().min(1),
        /** Host directory holding Tabby's model cache, mounted read-only. */
        hostPath: z.string().startsWith('/'),
      }),
    }),
    workspaces: z.strictObject({
      defaults: resources,
      max: resources,
      /**
       * code-server exits after this much inactivity (its --idle-timeout-seconds, which
       * code-server 4.100 does not know yet: leave unset for older images). @default - never
       */
      idleTimeout: duration.optional(),
      /** Browser file downloads and uploads; off keeps data inside the VDE. */
      allowFileTransfer: z.boolean().default(false),
      /**
       * How many stacks the users' IDEs are split into, so that the plan of a roster edit reads
       * only the edited users' shard. With more than 1, the `workspaces` stack keeps the
       * roster-wide parts (backup agent, home-volume guard; on a swarm the home-placement guard)
       * and each shard `ws-01` … `ws-NN` is a stack of its own, `workspaces-ws-01` …, holding its
       * users' IDEs, networks and links (on a swarm: overlays, IDE and forwarder services). Users
       * are put in shards by the rendezvous hash of their username (config/shards.ts): adding or
       * removing a user moves no one else. Raise it when plans get slow, at a few hundred users
       * (the docker provider waits 2 s on every network it reads: a refreshing plan of 500 users
       * in one stack takes about 50 s, bench/results.md).
       * Changing it moves users to other stacks, which recreates their IDE container and network
       * (the session drops; open editors reload). Homes are untouched: home volumes are never
       * Terraform resources (constructs/workspace.ts). From 1 it applies in one deploy; from a
       * count above 1, `npm run shards:destroy` with the old count first (README, Sharding the
       * workspaces), on either target.
       * @default 1 (one `workspaces` stack holds every user)
       */
      shards: z.number().int().min(1).max(MAX_WORKSPACE_SHARDS).default(1),
    }),
    /**
     * VSIX extensions users may have, each pinned by its file's sha256; the IDE image installs
     * exactly these (images/ide) and every other extension is refused.
     */
    extensions: extensionList,
    keycloak: z.strictObject({
      realm: z.string().regex(/^[a-z][a-z0-9-]{1,35}$/).refine((name) => name !== 'master', "must not be 'master': that realm administers Keycloak itself"),
      displayName: z.string().min(1),
      /** URL the Terraform runner uses to reach Keycloak's admin API (through nginx). */
      providerUrl: z.url({ protocol: /^https?$/ }),
      /** Source networks allowed to reach Keycloak's admin console and API through nginx. */
      adminAllowCidrs: z.array(z.cidrv4()).default([]),
      session: z.strictObject({
        idleTimeout: duration,
        maxLifespan: duration,
        /**
         * Longest a suspended or signed-out user keeps access: the lifetime of an access token,
         * which oauth2-proxy must refresh (and Keycloak then refuses) before it runs out.
         */
        revocationWindow: duration
          .refine((text) => durationSeconds(text) >= 30, 'must be at least 30s (oauth2-proxy refreshes at half of it)')
          .refine((text) => durationSeconds(text) <= 900, 'must be 15m or less: it is how long a suspended user keeps access')
          .default('5m'),
      }),
      passwordPolicy: z.strictObject({
        minLength: z.number().int().min(8).max(128),
        upperCase: z.number().int().min(0).default(1),
        lowerCase: z.number().int().min(0).default(1),
        digits: z.number().int().min(0).default(1),
        specialChars: z.number().int().min(0).default(1),
        notUsername: z.boolean().default(true),
        /** Number of previous passwords a user may not reuse. */
        history: z.number().int().min(0).default(5),
        /** Days until a password must be changed; 0 never. */
        expireDays: z.number().int().min(0).default(90),
      }),
      bruteForce: z.strictObject({
        maxLoginFailures: z.number().int().min(1).max(30),
        waitIncrementSeconds: z.number().int().min(1).default(60),
        maxFailureWaitSeconds: z.number().int().min(1).default(900),
        failureResetTimeSeconds: z.number().int().min(1).default(43200),
        permanentLockout: z.boolean().default(false),
      }),
      otp: z
        .strictObject({
          algorithm: z.enum(['HmacSHA1', 'HmacSHA256', 'HmacSHA512']).default('HmacSHA1'),
          digits: z.union([z.literal(6), z.literal(8)]).default(6),
          periodSeconds: z.number().int().min(15).max(120).default(30),
        })
        .default({ algorithm: 'HmacSHA1', digits: 6, periodSeconds: 30 }),
      events: z.strictObject({
        /** Login and admin events are kept this many days, then expire. */
        expirationDays: z.number().int().min(1).max(3650),
      }),
      /**
       * The bank's LDAP or Active Directory: users sign in with its password (read-only, never
       * written back). The roster still decides who may sign in. @default - no directory: Keycloak
       * keeps the passwords (`npm run user:first-password` gives a new user their first one)
       */
      directory: directory.optional(),
    }),
    litellm: z
      .strictObject({
        /** Prompt and response bodies in LiteLLM's logs. Off unless an approved change turns it on. */
        logPrompts: z.boolean().default(false),
        numWorkers: z.number().int().min(1).max(64).default(2),
      })
      .default({ logPrompts: false, numWorkers: 2 }),
    /** Audit trail, per-user AI limits, backups and monitoring (README, Operations). */
    operations: operations.prefault({}),
    /**
     * The bank's services IDEs may reach (git, package registries, other HTTPS services), through
     * the egress proxy only, each request in the audit trail under its user; every host under one
     * of `internalDomains` (config/egress.ts). @default - no egress proxy: IDEs reach nothing
     * outside the estate
     */
    egress: egressConfig.optional(),
    /**
     * The Swarm's nodes (managers, IDE nodes with their capacity, GPU nodes with their GPUs), the
     * registry they pull from and whether overlays are encrypted (config/swarm.ts). Required with
     * `target: swarm`, refused without it. @default - none: the estate runs on one Docker engine
     */
    swarm: swarmConfig.optional(),
    /** Policy rules waived for one resource, each with a reason (listed in the plan report). */
    suppressions: z.array(suppression).default([]),
  });

/**
 * Rules across fields. They read the raw document and skip malformed values, so
 * they report together with the shape errors rather than after them.
 */
export function estateRules(raw: unknown): RuleIssue[] {
  const issues: RuleIssue[] = [];
  const doc = record(raw);
  const gpus = record(doc.gpus);
  const known = new Set(list(gpus.devices).filter((id): id is string => typeof id === 'string'));
  for (const service of ['tabby', 'vllm'] as const) {
    list(gpus[service]).forEach((id, index) => {
      if (typeof id === 'string' && !known.has(id)) {
        issues.push({ path: ['gpus', service, index], message: `GPU '${id}' is not in gpus.devices (${[...known].join(', ')})` });
      }
    });
  }
  if (gpus.allowSharing !== true) {
    const tabby = new Set(list(gpus.tabby));
    list(gpus.vllm).forEach((id, index) => {
      if (typeof id === 'string' && tabby.has(id)) {
        issues.push({ path: ['gpus', 'vllm', index], message: `GPU '${id}' is also assigned to tabby; give each service its own GPUs or set gpus.allowSharing: true` });
      }
    });
  }
  const workspaces = record(doc.workspaces);
  for (const key of ['cpus', 'memory', 'disk'] as const) {
    const parse = (value: unknown) => (key === 'cpus' ? cpuCount : sizeMiB).safeParse(value);
    const defaults = parse(record(workspaces.defaults)[key]);
    const max = parse(record(workspaces.max)[key]);
    if (defaults.success && max.success && defaults.data > max.data) {
      issues.push({ path: ['workspaces', 'defaults', key], message: `default is above workspaces.max.${key}` });
    }
  }
  issues.push(...extensionRules(doc.extensions));
  issues.push(...egressRules(doc.egress));
  issues.push(...swarmRules(doc));
  if (doc.target === 'swarm' && doc.profile === 'production') {
    // The policy rule WEBIDE-I1 checks the Docker target's images, and can be waived; a swarm's
    // nodes each resolve a tag on their own, so there a tag is refused before any synth.
    for (const [key, ref] of Object.entries(record(doc.images))) {
      if (typeof ref === 'string' && imageReference.safeParse(ref).success && !imageDigest(ref)) {
        issues.push({ path: ['images', key], message: 'target swarm in the production profile needs every image by digest (name:tag@sha256:<digest>): each node pulls the image itself, and a tag can name other bytes on another node' });
      }
    }
  }
  const ldap = record(record(doc.keycloak).directory);
  if (doc.profile !== 'local' && typeof ldap.url === 'string' && ldap.url.startsWith('ldap://') && ldap.startTls !== true) {
    issues.push({ path: ['keycloak', 'directory', 'url'], message: 'plain LDAP sends the directory passwords in clear: use ldaps:// or set startTls: true (plain ldap:// only in the local profile)' });
  }
  const subnets = FIXED_SUBNET_FIELDS.map((field) => ({ field, given: doc[field] !== undefined, cidr: doc[field] ?? DEFAULT_SUBNETS[field] }));
  subnets.forEach((a, index) => {
    if (typeof a.cidr !== 'string' || !fixedSubnet.safeParse(a.cidr).success) return;
    for (const b of subnets.slice(0, index)) {
      if (typeof b.cidr !== 'string' || !fixedSubnet.safeParse(b.cidr).success || !cidrsOverlap(a.cidr, b.cidr)) continue;
      // Reported at a field the file sets (a default cannot be edited where it is).
      const [at, other] = a.given || !b.given ? [a, b] : [b, a];
      issues.push({ path: [at.field], message: `${at.cidr} overlaps ${other.field} ${other.cidr}${other.given ? '' : ' (its default)'}; give each network its own subnet` });
    }
  });
  if (typeof doc.dockerHost === 'string' && !doc.dockerHost.startsWith('unix://')) {
    issues.push({ path: ['dockerHost'], message: "the audit trail reads container events from the engine's unix socket: use unix://… (the Terraform runner reaches a remote engine through ssh:// from elsewhere)" });
  }
  if (doc.egress !== undefined && record(doc.images).egressProxy === undefined && typeof doc.images === 'object' && doc.images !== null) {
    issues.push({ path: ['images'], message: "missing required key 'egressProxy' (the Squid image of the egress proxy; egress is set)" });
  }
  if (record(doc.images).registry !== undefined && (doc.target !== 'swarm' || record(record(doc.swarm).registry).serve === undefined)) {
    issues.push({ path: ['images', 'registry'], message: 'only a swarm estate that runs its own registry (swarm.registry.serve) takes images.registry: remove it, or add serve' });
  }
  if (doc.httpPort !== undefined && doc.httpPort === doc.httpsPort) {
    issues.push({ path: ['httpPort'], message: 'must differ from httpsPort' });
  }
  return issues;
}

/**
 * Rules across the fields of the extension list (raw, like `estateRules`): ids and VSIX files
 * listed once, and each extension pinned by `sha256` or saying why not in `sha256Pending`.
 */
export function extensionRules(raw: unknown): RuleIssue[] {
  const issues: RuleIssue[] = [];
  const ids = new Map<string, number>();
  const files = new Map<string, number>();
  list(raw).forEach((item, index) => {
    const ext = record(item);
    const { id, version, vsix } = ext;
    if (typeof id === 'string') {
      const first = ids.get(id.toLowerCase());
      if (first !== undefined) {
        issues.push({ path: ['extensions', index, 'id'], message: (lineOf) => `extension '${id}' is listed twice (first on line ${lineOf(['extensions', first])})` });
      } else ids.set(id.toLowerCase(), index);
      if (typeof version === 'string' && (vsix === undefined || typeof vsix === 'string')) {
        const file = vsixFileName({ id, version, vsix });
        const other = files.get(file);
        if (other !== undefined) {
          issues.push({ path: ['extensions', index, 'vsix'], message: (lineOf) => `VSIX file '${file}' is also the file of the extension on line ${lineOf(['extensions', other])}` });
        } else files.set(file, index);
      }
    }
    const pinned = ext.sha256 !== undefined;
    const pending = ext.sha256Pending !== undefined;
    if (pinned && pending) {
      issues.push({ path: ['extensions', index, 'sha256Pending'], message: 'remove it: sha256 is filled in' });
    } else if (!pinned && !pending && isRecordLike(item)) {
      issues.push({ path: ['extensions', index], message: "missing required key 'sha256' (sha256sum of the VSIX file; or sha256Pending: <why it is not known yet>)" });
    }
  });
  return issues;
}

function isRecordLike(value: unknown): boolean {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** The validated estate configuration handed to stacks. */
export type EstateConfig = z.output<typeof estateSchema>;
export type EstateInput = z.input<typeof estateSchema>;
