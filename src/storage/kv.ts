import type { z } from "@hono/zod-openapi";
import { internalError, unavailableOnFailure } from "../core/errors";
import { DAY_MS } from "../core/time";

/**
 * The global KV namespace, typed. Every KV failure (network, 429 on same-key writes, quota) becomes a
 * 503 `service_unavailable` here, so no route can turn one into a 500.
 */

export const kvKeys = {
  /** hash of a bearer secret -> principal record (src/core/principal.ts). */
  principal: (prefix: string, hash: string) => `${prefix}:${hash}`,
  identity: (identityId: string) => `identity:${identityId}`,
  /** The email index of identities (storage/identities.ts): lower-cased email, then the identity's id. */
  identityEmail: (email: string, identityId = "") => `identity-email:${email.toLowerCase()}:${identityId}`,
  /** workspace id -> owning region: a request for a workspace elsewhere gets 421 naming it. */
  workspaceRegion: (workspaceId: string) => `workspace-region:${workspaceId}`,
  /** Present while an identity is revoked: its provider's tokens are refused (storage/identities.ts). */
  revokedIdentity: (identityId: string) => `revoked-identity:${identityId}`,
  /**
   * Set when an identity is disabled and kept past its re-enabling: the API keys it holds and the
   * invitations it issued before `before` (all of them while it is disabled) are revoked (storage/identities.ts).
   */
  revokedBefore: (identityId: string) => `revoked-before:${identityId}`,
  /**
   * The same, by the SHA-256 of the disabled person's lower-cased email (a hash: an address is up to 320
   * bytes, a KV key at most 512), one per person since others may share the address: for the invitations
   * addressed to it, whoever signs in with it.
   */
  revokedEmail: (emailHash: string, identityId = "") => `revoked-email:${emailHash}:${identityId}`,
  /** Revocation markers: present means every secret of this key, or of every key of this workspace, is refused. */
  revokedKey: (keyRowId: string) => `revoked-key:${keyRowId}`,
  archivedWorkspace: (workspaceId: string) => `archived-workspace:${workspaceId}`,
};

/**
 * How long a revocation marker is kept: longer than any key can still live once it is revoked or its
 * workspace archived (keys last at most 90 days, and neither a revoked key nor an archived workspace's key
 * can be rotated to a later expiry). After that the key's own record has expired too.
 */
export const MARKER_TTL_SECONDS = (91 * DAY_MS) / 1000;

export async function kvPutMarker(kv: KVNamespace, key: string): Promise<void> {
  await kvPutJson(kv, key, { at: new Date().toISOString() }, { expirationTtl: MARKER_TTL_SECONDS });
}

/** A KV operation whose failure is a 503 (retry), never a 500 carrying KV's text. */
const kvCall = <T>(call: () => Promise<T>) => unavailableOnFailure(call, "The key store is temporarily unavailable; retry shortly.");

/** The raw values of `keys` in one KV operation (a bulk get, at most KV_BULK_GET_MAX keys). */
function kvGetMany(kv: KVNamespace, keys: string[]): Promise<Map<string, string | null>> {
  return kvCall(() => kv.get(keys));
}

export async function kvGetJson<T>(kv: KVNamespace, key: string, schema: z.ZodType<T>): Promise<T | null> {
  return parseRecord(key, await kvCall(() => kv.get(key)), schema);
}

/** The most keys one KV bulk get takes. */
export const KV_BULK_GET_MAX = 100;

/** Several JSON records in one KV operation (a bulk get, at most KV_BULK_GET_MAX keys); a missing key maps to null. */
export async function kvGetManyJson<T>(kv: KVNamespace, keys: string[], schema: z.ZodType<T>): Promise<Map<string, T | null>> {
  if (keys.length === 0) return new Map();
  const found = await kvGetMany(kv, keys);
  return new Map(keys.map((key) => [key, parseRecord(key, found.get(key) ?? null, schema)]));
}

/**
 * Records already parsed in this isolate, by schema and by their exact text: a principal's record is read
 * on every request of its token, and the same text always parses to the same value, so it is validated
 * once. Frozen, as every request that reads the text shares the value. Emptied when full.
 */
const parsedRecords = new WeakMap<z.ZodType, Map<string, unknown>>();
const PARSED_RECORDS_MAX = 1000;

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null && !Object.isFrozen(value)) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

function parseRecord<T>(key: string, raw: string | null, schema: z.ZodType<T>): T | null {
  if (raw === null) return null;
  let parsedBySchema = parsedRecords.get(schema);
  const known = parsedBySchema?.get(raw);
  if (known !== undefined) return known as T;
  const parsed = schema.safeParse(JSON.parse(raw));
  if (!parsed.success) throw internalError(new Error(`corrupt KV record under ${key.split(":")[0]}:`));
  if (parsedBySchema === undefined || parsedBySchema.size >= PARSED_RECORDS_MAX) {
    parsedBySchema = new Map();
    parsedRecords.set(schema, parsedBySchema);
  }
  parsedBySchema.set(raw, deepFreeze(parsed.data));
  return parsed.data;
}

export async function kvPutJson(kv: KVNamespace, key: string, value: unknown, options?: KVNamespacePutOptions): Promise<void> {
  await kvCall(() => kv.put(key, JSON.stringify(value), options));
}

/** One page of the names under `prefix`, in KV's (lexicographic) order; `cursor` is null on the last page. */
export async function kvList(kv: KVNamespace, prefix: string, limit: number, cursor: string | null) {
  const { entries, cursor: next } = await kvListEntries(kv, prefix, limit, cursor);
  return { names: entries.map((entry) => entry.name), cursor: next };
}

/** As kvList, with each name's metadata (null when it has none). */
export async function kvListEntries(kv: KVNamespace, prefix: string, limit: number, cursor: string | null) {
  const listed = await kvCall(() => kv.list({ prefix, limit, cursor }));
  return {
    entries: listed.keys.map((key) => ({ name: key.name, metadata: (key.metadata ?? null) as unknown })),
    cursor: listed.list_complete ? null : listed.cursor,
  };
}

export async function kvDelete(kv: KVNamespace, key: string): Promise<void> {
  await kvCall(() => kv.delete(key));
}
