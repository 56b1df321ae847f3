#!/usr/bin/env node
// `npm run provision -- <region> [--dry-run] [--config wrangler.toml]`: stands up one region's resources on
// the Cloudflare account wrangler is logged in to (docs/operations/deploy.md), each step only if it is
// still to do, so a run that stopped halfway is repeated safely:
// 1. the shared KV namespace, once for all regions (its id goes into every environment),
// 2. the region's D1 database (location hint, or the EU jurisdiction for eu-central-1), its id written in,
// 3. the region's R2 bucket for audit exports (same placement),
// 4. the slug registry: its Durable Object migration runs once, with the first deploy of the region that
//    hosts it; any other region checks that the host is deployed; the audit store's migration (every
//    region's own Durable Objects) runs with the region's first deploy,
// 5. the D1 migrations, applied remotely,
// 6. the secrets the Worker requires, each set only if missing (a random value; ADMIN_TOKEN from the
//    environment variable of that name if set, else random and written to .provision/<region>.admin-token;
//    AUDIT_SIGNING_KEY a new Ed25519 note key named `<host of PUBLIC_URL>/audit`, its public verifier key
//    printed and written to .provision/<region>.audit-verifier-key).
// --dry-run runs nothing and writes nothing: it prints the wrangler commands and the edits to wrangler.toml.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { generateKeyPair } from "../src/security/transparency/signed-note.ts";
import { identitySigningKeys } from "./identity-keys.mjs";
import {
  isPlaceholderId,
  KV_NAMESPACE_TITLE,
  PLACEMENT,
  REQUIRED_SECRETS,
  readToml,
  regionConfig,
  regionsOf,
  sharedKvId,
  slugsHostRegion,
  withBucketJurisdiction,
  withDatabaseId,
  withKvId,
} from "./regions.mjs";

const { values: options, positionals } = parseArgs({
  options: { "dry-run": { type: "boolean", default: false }, config: { type: "string", default: "wrangler.toml" } },
  allowPositionals: true,
});
const dryRun = options["dry-run"];
const configPath = options.config;
const [region] = positionals;
// Non-interactive (CI=true): wrangler then asks nothing (its output is read, not shown while it runs) and
// takes its defaults, e.g. `secret bulk` creates the region's Worker as a draft when it does not exist yet,
// so the secrets are in place before the first deploy (which refuses a new Worker without them).
const env = { ...process.env, CI: "true", WRANGLER_SEND_METRICS: "false" };

const original = readToml(configPath);
if (positionals.length !== 1 || !regionsOf(original).includes(region) || !(region in PLACEMENT)) {
  console.error(`usage: npm run provision -- <region> [--dry-run]   (regions: ${regionsOf(original).join(", ")})`);
  process.exit(2);
}
// The Worker refuses an admin token under 32 characters (503 on every admin request): stop before any step.
if (process.env.ADMIN_TOKEN && process.env.ADMIN_TOKEN.length < 32) {
  console.error("provision: ADMIN_TOKEN must be at least 32 characters (the Worker answers 503 to the admin surface otherwise).");
  process.exit(2);
}
let toml = original;

/** Runs `wrangler <args>` (printed first); in a dry run only prints it. Returns its output. */
function wrangler(why, wranglerArgs, { allowFailure = false } = {}) {
  console.log(`\n# ${why}\n$ npx wrangler ${wranglerArgs.join(" ")}`);
  if (dryRun) return { ok: true, output: "" };
  const result = spawnSync("npx", ["wrangler", ...wranglerArgs], { env, encoding: "utf8", stdio: ["inherit", "pipe", "pipe"] });
  const output = `${result.stdout ?? ""}${result.stderr ?? ""}`;
  process.stdout.write(output);
  const ok = result.status === 0;
  if (!ok && !allowFailure)
    fail(`wrangler ${wranglerArgs[0]} failed (exit ${result.status}); nothing after it ran. Fix the cause and run the same command again.`);
  return { ok, output };
}

function fail(message) {
  console.error(`\nprovision ${region}: ${message}`);
  process.exit(1);
}

/** Writes an edit to wrangler.toml at once (a later failure keeps the ids already made); a dry run keeps it in memory. */
function save(edited) {
  toml = edited;
  if (!dryRun) writeFileSync(configPath, toml);
}

/** The id a create command printed, or (dry run) a marker saying where it comes from. */
function idFrom(output, pattern, what) {
  if (dryRun) return `<${what}>`;
  const id = pattern.exec(output)?.[1];
  if (!id) fail(`could not read the new ${what} from wrangler's output`);
  return id;
}

const placement = PLACEMENT[region];
const where = placement.jurisdiction ? ["--jurisdiction", placement.jurisdiction] : ["--location", placement.location];
const config = regionConfig(toml, region);

// 1. the KV namespace, shared by every region
const kvId = sharedKvId(toml);
if (kvId === undefined) {
  const { output } = wrangler("The KV namespace all regions share (created once)", ["kv", "namespace", "create", KV_NAMESPACE_TITLE]);
  save(withKvId(toml, idFrom(output, /\bid"?\s*[:=]\s*"([0-9a-f]{32})"/, "id printed by kv namespace create")));
} else if (config.kvId !== kvId) {
  console.log(`\n# The shared KV namespace exists (${kvId}): written into [env.${region}]`);
  save(withKvId(toml, kvId));
}

// 2. the region's D1 database
if (config.databaseId === undefined || isPlaceholderId(config.databaseId)) {
  const { output } = wrangler(`${region}'s D1 database`, ["d1", "create", config.databaseName, ...where]);
  save(
    withDatabaseId(
      toml,
      region,
      idFrom(output, /database_id"?\s*[:=]\s*"([0-9a-f-]{36})"/, `database_id printed by d1 create ${config.databaseName}`),
    ),
  );
} else {
  console.log(`\n# ${region}'s D1 database exists (${config.databaseId})`);
}

// 3. the region's R2 bucket (a bucket that exists already is kept)
const bucket = wrangler(`${region}'s R2 bucket for audit exports`, ["r2", "bucket", "create", config.bucketName, ...where], {
  allowFailure: true,
});
if (!bucket.ok && !/already exists/i.test(bucket.output)) fail("wrangler r2 bucket create failed; nothing after it ran.");
if (placement.jurisdiction) save(withBucketJurisdiction(toml, region, placement.jurisdiction));

// 4. the slug registry
const host = slugsHostRegion(toml);
if (host === region) {
  console.log(
    `\n# ${region} hosts the slug registry: its first \`npm run deploy -- ${region}\` applies the Durable Object migration (v1, ` +
      `SlugRegistry) once.`,
  );
} else {
  const deployed = wrangler(
    `The slug registry is hosted by ${host}'s Worker: it must be deployed before ${region} serves`,
    ["deployments", "list", "--env", host],
    { allowFailure: true },
  );
  if (!deployed.ok) fail(`${host} is not deployed: run \`npm run provision -- ${host}\` and \`npm run deploy -- ${host}\` first.`);
}

// The audit store is every region's own (a Durable Object per workspace, created near the region).
console.log(
  `\n# ${region}'s audit store: its first \`npm run deploy -- ${region}\` applies the Durable Object migration (v2, AuditStore) ` +
    `once; the workspaces' audit trails then live in this region's Worker.`,
);

// 5. the D1 migrations
wrangler(`${region}'s D1 migrations, applied remotely`, ["d1", "migrations", "apply", "DB", "--env", region, "--remote"]);

// 6. the secrets, each only if missing
const listed = wrangler(`The secrets ${region} has already`, ["secret", "list", "--env", region, "--format", "json"], {
  allowFailure: true,
});
const present = new Set(listed.ok && !dryRun ? JSON.parse(listed.output.slice(listed.output.indexOf("["))).map((s) => s.name) : []);
const missing = REQUIRED_SECRETS.filter((name) => !present.has(name));
if (missing.length > 0) {
  // The audit log's checkpoint key: an Ed25519 key in the note format, named after the region's host.
  const auditKey = missing.includes("AUDIT_SIGNING_KEY")
    ? await generateKeyPair(`${new URL(regionConfig(toml, region).publicUrl ?? "https://localhost").host}/audit`)
    : undefined;
  // The access tokens' RS256 key ring (decision 0040): one new key.
  const identityKeys = missing.includes("IDENTITY_SIGNING_KEYS") ? await identitySigningKeys() : undefined;
  const secretValue = (name) => {
    if (name === "ADMIN_TOKEN" && process.env.ADMIN_TOKEN) return process.env.ADMIN_TOKEN;
    if (name === "AUDIT_SIGNING_KEY") return auditKey.signer;
    if (name === "IDENTITY_SIGNING_KEYS") return identityKeys;
    return randomBytes(32).toString("base64url");
  };
  const values = Object.fromEntries(missing.map((name) => [name, secretValue(name)]));
  // The values reach wrangler through a file only this user can read, removed at once.
  const folder = dryRun ? "<temporary folder>" : mkdtempSync(join(tmpdir(), "provision-"));
  const file = join(folder, "secrets.json");
  if (!dryRun) writeFileSync(file, JSON.stringify(values), { mode: 0o600 });
  try {
    wrangler(`The missing secrets (${missing.join(", ")}), random values`, ["secret", "bulk", file, "--env", region]);
  } finally {
    if (!dryRun) rmSync(folder, { recursive: true, force: true });
  }
  if (missing.includes("ADMIN_TOKEN") && !process.env.ADMIN_TOKEN && !dryRun) {
    mkdirSync(".provision", { recursive: true, mode: 0o700 });
    writeFileSync(join(".provision", `${region}.admin-token`), `${values.ADMIN_TOKEN}\n`, { mode: 0o600 });
    console.log(`\n${region}'s ADMIN_TOKEN is in .provision/${region}.admin-token (not committed; keep it in your secret store).`);
  }
  if (auditKey && !dryRun) {
    mkdirSync(".provision", { recursive: true, mode: 0o700 });
    writeFileSync(join(".provision", `${region}.audit-verifier-key`), `${auditKey.verifier}\n`);
    console.log(`\n${region}'s audit-log verifier key (public; auditors pin it): ${auditKey.verifier}`);
  }
}

// What changed in wrangler.toml, line by line.
const before = original.split("\n");
const after = toml.split("\n");
let table = "(top level)";
let shownTable;
const edits = after.flatMap((line, i) => {
  if (/^\[/.test(line)) table = line;
  if (line === before[i]) return [];
  const header = table === shownTable ? [] : [`  ${table}`];
  shownTable = table;
  return [...header, `- ${before[i]}`, `+ ${line}`];
});
console.log(`\n# ${configPath}${dryRun ? " as it would be edited (not written)" : ""}:${edits.length === 0 ? " no edits" : ""}`);
for (const line of edits) console.log(line);
console.log(dryRun ? `\nDry run: nothing was created or written.` : `\n${region} is provisioned. Next: npm run deploy -- ${region}`);
