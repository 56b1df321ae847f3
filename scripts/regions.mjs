// The regional deployments as wrangler.toml declares them, for `npm run provision` and `npm run deploy`:
// which regions exist, where each one's resources are placed, which ids are still placeholders, and the
// text edits that write the real ids in. Edits are made to the lines themselves, so the file's comments
// and layout stay as they are.
import { readFileSync } from "node:fs";

/**
 * Where each region's D1 database and R2 bucket are created. A jurisdiction keeps the data inside it (D1
 * then ignores a location hint); a location hint only places the primary.
 */
export const PLACEMENT = {
  "us-east-1": { location: "enam" },
  "eu-central-1": { jurisdiction: "eu" },
  "ap-southeast-2": { location: "oc" },
  "ca-central-1": { location: "enam" },
};

/** The one KV namespace every region shares (key verification, identities, the region directory). */
export const KV_NAMESPACE_TITLE = "platform-control-plane-kv";

/** The secrets each deployment requires (wrangler.toml `secrets.required`). */
export const REQUIRED_SECRETS = [
  "ADMIN_TOKEN",
  "AUDIT_EXPORT_SIGNING_KEY",
  "AUDIT_SIGNING_KEY",
  "IDEMPOTENCY_SECRET",
  "IDENTITY_SIGNING_KEYS",
];

/** The ids wrangler.toml ships with: all zeros but a counter, never a real resource's. */
export const isPlaceholderId = (id) => /^0{8}-0{4}-4000-8000-0{10}\d{2}$/.test(id) || /^0{32}$/.test(id);

/** The regions wrangler.toml has an environment for, in its order. */
export function regionsOf(toml) {
  return [...toml.matchAll(/^\[env\.([a-z0-9-]+)\]$/gm)].map((m) => m[1]);
}

/** The text of one environment's table: from its header to the next table header. */
function section(toml, region) {
  const start = toml.indexOf(`[env.${region}]\n`);
  if (start === -1) throw new Error(`wrangler.toml has no [env.${region}]`);
  const next = toml.slice(start + 1).search(/^\[(?!\[)/m);
  const end = next === -1 ? toml.length : start + 1 + next;
  return { start, end, text: toml.slice(start, end) };
}

function replaceInSection(toml, region, pattern, replacement) {
  const { start, end, text } = section(toml, region);
  if (!pattern.test(text)) throw new Error(`[env.${region}] has no line matching ${pattern}`);
  return toml.slice(0, start) + text.replace(pattern, replacement) + toml.slice(end);
}

/** What wrangler.toml says of one region's deployment. */
export function regionConfig(toml, region) {
  const { text } = section(toml, region);
  const field = (pattern) => pattern.exec(text)?.[1];
  return {
    region,
    databaseName: field(/database_name = "([^"]+)"/),
    databaseId: field(/database_id = "([^"]+)"/),
    kvId: field(/kv_namespaces = \[\{ binding = "KV", id = "([^"]+)"/),
    bucketName: field(/bucket_name = "([^"]+)"/),
    /** Where the region is reached: its audit logs are named after its host. */
    publicUrl: field(/PUBLIC_URL = "([^"]+)"/),
    bucketJurisdiction: field(/bucket_name = "[^"]+", jurisdiction = "([^"]+)"/),
    /** The Worker that hosts the slug registry, when it is another region's (its binding's script_name). */
    slugsHost: field(/class_name = "SlugRegistry", script_name = "([^"]+)"/),
  };
}

/** The region whose Worker hosts the slug registry's Durable Objects (its binding names no script_name). */
export function slugsHostRegion(toml) {
  return regionsOf(toml).find((region) => regionConfig(toml, region).slugsHost === undefined);
}

/** The KV id already in use by any region (the namespace is created once), or undefined. */
export function sharedKvId(toml) {
  return regionsOf(toml)
    .map((region) => regionConfig(toml, region).kvId)
    .find((id) => id !== undefined && !isPlaceholderId(id));
}

/** The region's D1 database id written in. */
export const withDatabaseId = (toml, region, id) => replaceInSection(toml, region, /database_id = "[^"]+"/, `database_id = "${id}"`);

/** The shared KV id written into every region (the local top level keeps its own). */
export function withKvId(toml, id) {
  return regionsOf(toml).reduce(
    (text, region) => replaceInSection(text, region, /(kv_namespaces = \[\{ binding = "KV", id = )"[^"]+"/, `$1"${id}"`),
    toml,
  );
}

/** The region's R2 bucket binding with its jurisdiction (a bucket in one is reached only through it). */
export function withBucketJurisdiction(toml, region, jurisdiction) {
  if (regionConfig(toml, region).bucketJurisdiction === jurisdiction) return toml;
  return replaceInSection(toml, region, /(bucket_name = "[^"]+")/, `$1, jurisdiction = "${jurisdiction}"`);
}

export const readToml = (path) => readFileSync(path, "utf8");
