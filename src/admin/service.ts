import { DEFAULT_SCOPES, type IdentityPrincipal, type IdentityRecord, IdentityRecordSchema, type Scope } from "../auth/principal";
import { generateSecret, SECRET_PREFIXES, sha256Hex } from "../auth/secret";
import { kvDelete, kvGetJson, kvKeys, kvPutJson } from "../kv";
import type { Logger } from "../logger";

type NewIdentity = { email: string; display_name?: string | null; scopes?: Scope[] };

/**
 * Identities live in the global KV. The identity record (holding only token hashes) is written before
 * the token's principal record, so a token can never exist that revocation cannot find. If the second
 * write fails, the first is undone and the caller sees 503.
 */
export async function createIdentity(kv: KVNamespace, logger: Logger, input: NewIdentity): Promise<{ record: IdentityRecord; token: string }> {
  const token = generateSecret(SECRET_PREFIXES.identity);
  const tokenHash = await sha256Hex(token);
  const record: IdentityRecord = {
    identity_id: crypto.randomUUID(),
    email: input.email,
    display_name: input.display_name ?? null,
    scopes: [...new Set(input.scopes ?? DEFAULT_SCOPES)],
    token_hashes: [tokenHash],
    created_at: new Date().toISOString(),
    revoked_at: null,
  };
  const principal: IdentityPrincipal = {
    type: "identity",
    identity_id: record.identity_id,
    credential_id: crypto.randomUUID(),
    email: record.email,
    display_name: record.display_name,
    scopes: record.scopes,
  };

  await kvPutJson(kv, kvKeys.identity(record.identity_id), record);
  try {
    await kvPutJson(kv, kvKeys.principal(SECRET_PREFIXES.identity, tokenHash), principal);
  } catch (err) {
    await kvDelete(kv, kvKeys.identity(record.identity_id)).catch(() =>
      logger.error("could not undo identity create", { identity_id: record.identity_id }),
    );
    throw err;
  }
  return { record, token };
}

/**
 * Deletes every token of the identity, then marks it revoked. Safe to repeat: a retry after a KV
 * failure deletes whatever is left. Returns false for an unknown identity.
 */
export async function revokeIdentity(kv: KVNamespace, identityId: string): Promise<boolean> {
  const record = await kvGetJson(kv, kvKeys.identity(identityId), IdentityRecordSchema);
  if (record === null) return false;
  for (const hash of record.token_hashes) await kvDelete(kv, kvKeys.principal(SECRET_PREFIXES.identity, hash));
  await kvPutJson(kv, kvKeys.identity(identityId), { ...record, token_hashes: [], revoked_at: record.revoked_at ?? new Date().toISOString() });
  return true;
}
