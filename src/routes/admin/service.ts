import { z } from "@hono/zod-openapi";
import { and, eq, isNull, notExists } from "drizzle-orm";
import { SCOPES } from "../../core/domain";
import type { Storage } from "../../core/env";
import { ApiError } from "../../core/errors";
import { bestEffort } from "../../core/logger";
import { type IdentityPrincipal, IdentityProfileSchema } from "../../core/principal";
import { SECRET_PREFIXES } from "../../core/token-format";
import { generateSecret, sha256Hex } from "../../security/secret";
import { type AuditActor, auditEvent, insertEvent, insertEventIf } from "../../storage/audit-events/record";
import { auditEvents } from "../../storage/d1/schema";
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
 * operator log unless it holds one already. Safe to repeat: a retry after a KV or D1 failure completes
 * whatever is left, and records the event once. 404 for an unknown identity.
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
  const recorded = db
    .select({ id: auditEvents.id })
    .from(auditEvents)
    .where(and(isNull(auditEvents.workspaceId), eq(auditEvents.resourceId, identityId), eq(auditEvents.action, "identity.revoked")));
  await insertEventIf(db, identityEvent(actor, identityId, record.email, "identity.revoked"), notExists(recorded));
}
