#!/usr/bin/env node
// Generates the cdktf TypeScript bindings of every provider that providers/pins.json marks
// `"bindings": "generated"` (keycloak, docker) into .gen/providers/<type>/, from the committed
// schema providers/schemas/<type>-<version>.json. providers/pins.json is the one place that
// states each provider's version; providers/build.sh builds the same versions.
//
// It runs cdktf-cli's own `cdktf get` code path (@cdktf/cli-core get() -> ConstructsMaker ->
// TerraformProviderGenerator), so the output is what `cdktf get` writes for the same provider.
// The only difference: the provider schema is served from cdktf's provider-schema cache (filled
// from the committed file) instead of running `terraform init` + `terraform providers schema`.
// So no terraform, no provider binary and no network are needed: a clean clone can run it.
//
// Skips a provider when .gen/providers/<type> exists and its stamp (.gen/.<type>-bindings.stamp.json)
// records the same schema sha256, cdktf version and generator script. FORCE=1 regenerates.
//
// Run as `npm run gen` (or `node scripts/gen-bindings.js`).
"use strict";

const crypto = require("crypto");
const fs = require("fs");
const os = require("os");
const path = require("path");

// Loading @cdktf/commons runs `terraform version -json` and reports errors to HashiCorp's
// telemetry endpoint. Neither is needed here: no telemetry, and a no-op "terraform"
// (the schema comes from the committed file, so terraform is never really used).
process.env.CHECKPOINT_DISABLE = "1";
process.env.TERRAFORM_BINARY_NAME = "true";

const ROOT = path.resolve(__dirname, "..");
const GEN_DIR = path.join(ROOT, ".gen");
const PINS_FILE = path.join(ROOT, "providers", "pins.json");

const t0 = process.hrtime.bigint();
const secs = () => (Number(process.hrtime.bigint() - t0) / 1e9).toFixed(1) + "s";
const say = (msg) => console.log(`[gen ${secs()}] ${msg}`);
const fail = (msg) => {
  console.error(`gen-bindings: ${msg}`);
  process.exit(1);
};
const sha256 = (data) => crypto.createHash("sha256").update(data).digest("hex");
const readJson = (file, fallback) => {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    if (fallback !== undefined && e.code === "ENOENT") return fallback;
    throw e;
  }
};

function requireOrExplain(id) {
  try {
    return require(id);
  } catch (e) {
    fail(`cannot load ${id} (${e.message.split("\n")[0]}). Run 'npm ci' first.`);
  }
}

async function main() {
  const pins = readJson(PINS_FILE).providers.filter((pin) => pin.bindings === "generated");
  for (const pin of pins) await generate(pin);
}

async function generate(pin) {
  const PROVIDER_SOURCE = `${pin.namespace}/${pin.type}`;
  const PROVIDER_VERSION = pin.version;
  const CONSTRAINT = `${PROVIDER_SOURCE}@${PROVIDER_VERSION}`;
  const SCHEMA_FILE = path.join(ROOT, "providers", "schemas", `${pin.type}-${PROVIDER_VERSION}.json`);
  const OUT_DIR = path.join(GEN_DIR, "providers", pin.type);
  const STAMP_FILE = path.join(GEN_DIR, `.${pin.type}-bindings.stamp.json`);
  const outName = `.gen/providers/${pin.type}`;
  if (!fs.existsSync(SCHEMA_FILE)) {
    fail(
      `missing ${path.relative(ROOT, SCHEMA_FILE)}. It is committed; if you changed the ${pin.type} ` +
        "version in providers/pins.json, produce it with 'PROVIDERS_UPDATE_LOCK=1 npm run providers' (builds the provider and extracts its schema).",
    );
  }
  const schemaText = fs.readFileSync(SCHEMA_FILE);
  // Same value as @cdktf/commons' DISPLAY_VERSION, without loading the whole package.
  const cdktfVersion = requireOrExplain("@cdktf/commons/package.json").version.replace(/\+[0-9a-f]+$/, "");
  const stamp = {
    provider: CONSTRAINT,
    schemaSha256: sha256(schemaText),
    cdktf: cdktfVersion,
    generatorSha256: sha256(fs.readFileSync(__filename)),
  };

  const previous = readJson(STAMP_FILE, null);
  if (
    !process.env.FORCE &&
    previous &&
    JSON.stringify(previous) === JSON.stringify(stamp) &&
    fs.existsSync(path.join(OUT_DIR, "index.ts"))
  ) {
    say(`up to date: ${outName} (schema sha256 ${stamp.schemaSha256.slice(0, 12)}…)`);
    return;
  }

  const { get } = requireOrExplain("@cdktf/cli-core/src/lib/get");
  const { TerraformProviderConstraint, ConstructsMakerProviderTarget, Language, LANGUAGES } =
    requireOrExplain("@cdktf/commons");
  const { sanitizeProviderSchema } = requireOrExplain("@cdktf/provider-schema/src/provider-schema");

  // The committed schema stores provider addresses without the registry host; put back the
  // default host Terraform resolves "<namespace>/<type>" to (read from the prebuilt docker
  // bindings' metadata, so no host name is written in this repository).
  const host = requireOrExplain("@cdktf/provider-docker/package.json").cdktf.provider.name.split("/")[0];
  const qualify = (key) => (key.split("/").length === 2 ? `${host}/${key}` : key);
  const stored = JSON.parse(schemaText.toString("utf8"));
  const requalify = (obj) =>
    Object.fromEntries(Object.entries(obj || {}).map(([k, v]) => [qualify(k), v]));
  const providerSchema = sanitizeProviderSchema({
    format_version: stored.format_version,
    provider_schemas: requalify(stored.provider_schemas),
    provider_versions: {
      [`${host}/${PROVIDER_SOURCE}`]: PROVIDER_VERSION,
      ...requalify(stored.provider_versions),
    },
  });
  if (!providerSchema.provider_schemas[`${host}/${PROVIDER_SOURCE}`]) {
    fail(`${path.relative(ROOT, SCHEMA_FILE)} has no entry for ${PROVIDER_SOURCE}`);
  }

  // Serve the schema from cdktf's provider-schema cache (same key format as
  // @cdktf/provider-schema's cachedAccess) so readSchema() never runs terraform.
  // `cdktf get` parses cdktf.json's "<namespace>/<type>@<version>" into a constraint and wraps it
  // once more (fqn becomes the short name); do the same so .gen/constraints.json matches.
  const constraint = new TerraformProviderConstraint(new TerraformProviderConstraint(CONSTRAINT));
  const target = ConstructsMakerProviderTarget.from(constraint, LANGUAGES[0]);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), `gen-${pin.type}-`));
  const cacheDir = path.join(tmp, "schema-cache");
  const staging = path.join(tmp, "gen");
  fs.mkdirSync(cacheDir);
  const cacheKey = `${encodeURIComponent(target.fqn)}@${encodeURIComponent(target.version || "")}`;
  fs.writeFileSync(path.join(cacheDir, `${cacheKey}.json`), JSON.stringify(providerSchema));

  try {
    say(`generating bindings for ${CONSTRAINT} with cdktf ${cdktfVersion} (schema sha256 ${stamp.schemaSha256.slice(0, 12)}…)`);
    process.env.CDKTF_LOG_LEVEL = process.env.CDKTF_LOG_LEVEL || "WARN";
    await get({
      constraints: [constraint],
      constructsOptions: {
        codeMakerOutput: staging,
        targetLanguage: Language.TYPESCRIPT,
        jsiiParallelism: 1,
      },
      cleanDirectory: true,
      providerSchemaCachePath: cacheDir,
    });
    const generated = path.join(staging, "providers", pin.type);
    if (!fs.existsSync(path.join(generated, "index.ts"))) {
      fail(`cdktf generator produced no ${path.relative(staging, generated)}/index.ts`);
    }

    // Swap the new folder in; keep anything else in .gen (other providers) untouched.
    fs.mkdirSync(path.dirname(OUT_DIR), { recursive: true });
    const old = `${OUT_DIR}.old-${process.pid}`;
    if (fs.existsSync(OUT_DIR)) fs.renameSync(OUT_DIR, old);
    fs.cpSync(generated, OUT_DIR, { recursive: true });
    fs.rmSync(old, { recursive: true, force: true });

    // Merge cdktf's bookkeeping files (versions.json, constraints.json) like `cdktf get` leaves them.
    const versions = readJson(path.join(staging, "versions.json"), {});
    const versionsFile = path.join(GEN_DIR, "versions.json");
    fs.writeFileSync(versionsFile, JSON.stringify({ ...readJson(versionsFile, {}), ...versions }, null, 2) + "\n");
    const constraints = readJson(path.join(staging, "constraints.json"), { providers: {} });
    const constraintsFile = path.join(GEN_DIR, "constraints.json");
    const prevConstraints = readJson(constraintsFile, { providers: {} });
    fs.writeFileSync(
      constraintsFile,
      JSON.stringify(
        { cdktf: constraints.cdktf, providers: { ...(prevConstraints.providers || {}), ...constraints.providers } },
        null,
        2,
      ) + "\n",
    );

    fs.writeFileSync(STAMP_FILE, JSON.stringify(stamp, null, 2) + "\n");
    const count = fs.readdirSync(OUT_DIR, { withFileTypes: true }).filter((d) => d.isDirectory()).length;
    say(`wrote ${outName} (${count} resource/data source folders)`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : e);
  fail("generation failed; fix the error above and re-run 'npm run gen' (FORCE=1 to regenerate).");
});
