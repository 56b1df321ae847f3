import { z } from "@hono/zod-openapi";
import { SCOPES } from "../../core/domain";
import type { Storage } from "../../core/env";
import { ApiError } from "../../core/errors";
import { bestEffort } from "../../core/logger";
import { type IdentityPrincipal, IdentityProfileSchema } from "../../core/principal";
import { SECRET_PREFIXES } from "../../core/token-format";
import { generateSecret, sha256Hex } from "../../security/secret";
import { type AuditActor, auditEvent, insertEvent } from "../../storage/audit-events/record";
import { kvDelete, kvGetJson, kvKeys, kvPutJson } from "../../storage/kv";
import type { CreateIdentityRequest } from "./schemas";

/** The admin-side record of an identity, under `identity:<id>`. Holds token hashes, never tokens. */
const IdentityRecordSchema = IdentityProfileSchema.extend({
  token_hashes: z.array(z.string()),
  created_at: z.string(),
  revoked_at: z.string().nullable(),
});
type IdentityRecord = z.infer<typeof IdentityRecordSchema>;

/** An operator-log event (no workspace) about this identity. */
function identityEvent(
  actor: AuditActor,
  identityId: string,
  email: string,
  action: "identity.created" | "identity.revoked",
  metadata?: Record<string, unknown>,
) {
  return auditEvent(actor, { workspaceId: null, action, resourceType: "identity", resourceId: identityId, resourceName: email, metadata });
}

/**
 * Identities live in the global KV. The identity record (holding only token hashes) is written before
 * the token's principal record, so a token can never exist that revocation cannot find. Then the
 * `identity.created` event goes to this region's operator log. If a later write fails, the earlier ones
 * are undone and the caller sees 503.
 */
export async function createIdentity(
  { db, kv, logger }: Storage,
  input: CreateIdentityRequest,
  actor: AuditActor,
): Promise<{ record: IdentityRecord; token: string }> {
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
    await insertEvent(db, identityEvent(actor, identity_id, email, "identity.created", { scopes }));
  } catch (err) {
    await bestEffort(
      logger,
      "undo identity create",
      // Deleting a record that was never written is harmless: both go, whichever step failed.
      async () => {
        await kvDelete(kv, kvKeys.principal(SECRET_PREFIXES.identity, tokenHash));
        await kvDelete(kv, kvKeys.identity(identity_id));
      },
      { identity_id },
    );
    throw err;
  }
  return { record, token };
}

/**
 * Deletes every token of the identity, marks it revoked, then records `identity.revoked` in this region's
 * operator log. Safe to repeat: a retry after a KV or D1 failure completes whatever is left, and records the
 * event once (its id is derived from the identity's, and the outbox and the store each keep one event per
 * id). 404 for an unknown identity.
 */
export async function revokeIdentity({ db, kv }: Storage, identityId: string, actor: AuditActor): Promise<void> {
  const record = await kvGetJson(kv, kvKeys.identity(identityId), IdentityRecordSchema);
  if (record === null) throw new ApiError("not_found", "Identity not found.");
  for (const hash of record.token_hashes) await kvDelete(kv, kvKeys.principal(SECRET_PREFIXES.identity, hash));
  await kvPutJson(kv, kvKeys.identity(identityId), {
    ...record,
    token_hashes: [],
    revoked_at: record.revoked_at ?? new Date().toISOString(),
  });
  const event = { ...identityEvent(actor, identityId, record.email, "identity.revoked"), id: await revocationEventId(identityId) };
  await insertEvent(db, event).onConflictDoNothing();
}

/** A uuid (version 4 layout) derived from the identity's id: the one id its revocation event ever has. */
async function revocationEventId(identityId: string): Promise<string> {
  const hex = (await sha256Hex(`identity.revoked:${identityId}`)).slice(0, 32).split("");
  hex[12] = "4";
  hex[16] = "89ab"[Number.parseInt(hex[16]!, 16) % 4]!;
  const h = hex.join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
