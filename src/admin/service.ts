import { z } from "@hono/zod-openapi";
import { SCOPES } from "../domain";
import type { Storage } from "../env";
import { ApiError } from "../errors";
import { kvDelete, kvGetJson, kvKeys, kvPutJson } from "../kv";
import { bestEffort } from "../logger";
import { type IdentityPrincipal, IdentityProfileSchema } from "../principal";
import { generateSecret, SECRET_PREFIXES, sha256Hex } from "../secret";
import type { CreateIdentityRequest } from "./schemas";

/** The admin-side record of an identity, under `identity:<id>`. Holds token hashes, never tokens. */
const IdentityRecordSchema = IdentityProfileSchema.extend({
  token_hashes: z.array(z.string()),
  created_at: z.string(),
  revoked_at: z.string().nullable(),
});
type IdentityRecord = z.infer<typeof IdentityRecordSchema>;

/**
 * Identities live in the global KV. The identity record (holding only token hashes) is written before
 * the token's principal record, so a token can never exist that revocation cannot find. If the second
 * write fails, the first is undone and the caller sees 503.
 */
export async function createIdentity({ kv, logger }: Storage, input: CreateIdentityRequest): Promise<{ record: IdentityRecord; token: string }> {
  const token = generateSecret(SECRET_PREFIXES.identity);
  const tokenHash = await sha256Hex(token);
  const record: IdentityRecord = {
    identity_id: crypto.randomUUID(),
    email: input.email,
    display_name: input.display_name ?? null,
    scopes: [...new Set(input.scopes ?? SCOPES)],
    token_hashes: [tokenHash],
    created_at: new Date().toISOString(),
    revoked_at: null,
  };
  const { identity_id, email, display_name, scopes } = record;
  const principal: IdentityPrincipal = { type: "identity", identity_id, credential_id: crypto.randomUUID(), email, display_name, scopes };

  await kvPutJson(kv, kvKeys.identity(identity_id), record);
  try {
    await kvPutJson(kv, kvKeys.principal(SECRET_PREFIXES.identity, tokenHash), principal);
  } catch (err) {
    await bestEffort(logger, "undo identity create", () => kvDelete(kv, kvKeys.identity(identity_id)), { identity_id });
    throw err;
  }
  return { record, token };
}

/**
 * Deletes every token of the identity, then marks it revoked. Safe to repeat: a retry after a KV
 * failure deletes whatever is left. 404 for an unknown identity.
 */
export async function revokeIdentity({ kv }: Storage, identityId: string): Promise<void> {
  const record = await kvGetJson(kv, kvKeys.identity(identityId), IdentityRecordSchema);
  if (record === null) throw new ApiError("not_found", "Identity not found.");
  for (const hash of record.token_hashes) await kvDelete(kv, kvKeys.principal(SECRET_PREFIXES.identity, hash));
  await kvPutJson(kv, kvKeys.identity(identityId), { ...record, token_hashes: [], revoked_at: record.revoked_at ?? new Date().toISOString() });
}
