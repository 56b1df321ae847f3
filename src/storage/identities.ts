import { z } from "@hono/zod-openapi";
import { IdentityProfileSchema } from "../core/principal";
import { sha256Hex } from "../security/secret";
import { type AuditActor, auditEvent } from "./audit-events/record";
import { KV_BULK_GET_MAX, kvDelete, kvGetJson, kvGetManyJson, kvKeys, kvList, kvListEntries, kvPutJson, MARKER_TTL_SECONDS } from "./kv";

/**
 * Identities live in the global KV: a record under `identity:<id>` (holding token hashes, never tokens),
 * and an email index, `identity-email:<email>:<id>`, that the operator's listing filters by. A person
 * signs in with personal access tokens (minted on the admin surface) or through one identity provider
 * (`issuer` and `subject`; created on the first valid token, src/auth/provider-identity.ts).
 *
 * Whether an identity is revoked is decided by a marker of its own, `revoked-identity:<id>`, as well as the
 * record's `revoked_at`: KV has no conditional write, so a profile update that read the record just before
 * a revocation may write it back without `revoked_at`; the marker, which nothing but enable deletes,
 * keeps the identity refused.
 */
const IdentityRecordSchema = IdentityProfileSchema.extend({
  token_hashes: z.array(z.string()),
  created_at: z.string(),
  revoked_at: z.string().nullable(),
  /** The provider this identity signs in through, and its `sub` there; both null for personal tokens. */
  issuer: z.string().nullable().default(null),
  subject: z.string().nullable().default(null),
  /**
   * Whether the email is the person's: true for personal-token identities; for a provider's, what its latest
   * token with an email said (provider-token.ts). An unverified email is not matched against invitations.
   */
  email_verified: z.boolean().default(true),
});
export type IdentityRecord = z.infer<typeof IdentityRecordSchema>;

export function getIdentity(kv: KVNamespace, identityId: string): Promise<IdentityRecord | null> {
  return kvGetJson(kv, kvKeys.identity(identityId), IdentityRecordSchema);
}

const RevocationMarkerSchema = z.object({ at: z.string() });
/** Either of the two values identityWithRevocation reads (one schema object, so kv.ts parses each text once per isolate). */
const RecordOrMarkerSchema = z.union([IdentityRecordSchema, RevocationMarkerSchema]);

/**
 * The record and since when the identity is revoked (its marker's time, else the record's `revoked_at`;
 * null: not revoked), in one KV operation.
 */
export async function identityWithRevocation(kv: KVNamespace, identityId: string) {
  const [recordKey, markerKey] = [kvKeys.identity(identityId), kvKeys.revokedIdentity(identityId)];
  const found = await kvGetManyJson(kv, [recordKey, markerKey], RecordOrMarkerSchema);
  const stored = found.get(recordKey) ?? null;
  const marker = found.get(markerKey) ?? null;
  const record = stored !== null && "identity_id" in stored ? stored : null;
  const revokedAt = (marker !== null && "at" in marker ? marker.at : null) ?? record?.revoked_at ?? null;
  return { record, revokedAt };
}

/**
 * What a token or grant the deployment issued to a person needs to know (its own access tokens, its sign-ins, the sign-in page's
 * session), in one KV operation: the record, and whether the person is refused for a token issued at
 * `issuedAtMs`: disabled now, or disabled since (re-enabling restores nothing issued before).
 */
export async function identityForIssuedToken(kv: KVNamespace, identityId: string, issuedAtMs: number) {
  const keys = [kvKeys.identity(identityId), kvKeys.revokedIdentity(identityId), kvKeys.revokedBefore(identityId)] as const;
  const found = await kvGetManyJson(kv, [...keys], IssuedTokenReadSchema);
  const stored = found.get(keys[0]) ?? null;
  const record = stored !== null && "identity_id" in stored ? stored : null;
  const disabled = found.get(keys[1]) ?? null;
  const since = found.get(keys[2]) ?? null;
  const revokedBefore = since !== null && "before" in since ? (since as RevokedBefore) : null;
  // The instant as text only when a marker needs comparing: most people were never disabled.
  const disabledSince = revokedBefore !== null && revokes(revokedBefore, new Date(issuedAtMs).toISOString());
  const refused = record === null || record.revoked_at !== null || disabled !== null || disabledSince;
  return { record, refused };
}

/** Revoked from now on: the marker goes first, so a failure after it leaves the identity refused (a retry completes the rest). */
export function markRevoked(kv: KVNamespace, identityId: string): Promise<void> {
  return kvPutJson(kv, kvKeys.revokedIdentity(identityId), { at: new Date().toISOString() });
}

export function clearRevoked(kv: KVNamespace, identityId: string): Promise<void> {
  return kvDelete(kv, kvKeys.revokedIdentity(identityId));
}

/** Writes the record, then its email index (and drops the index entry of the email it had before). */
export async function saveIdentity(kv: KVNamespace, record: IdentityRecord, before: IdentityRecord | null = null): Promise<void> {
  await kvPutJson(kv, kvKeys.identity(record.identity_id), record);
  const sameEmail = before !== null && before.email.toLowerCase() === record.email.toLowerCase();
  if (!sameEmail) await kvPutJson(kv, kvKeys.identityEmail(record.email, record.identity_id), {});
  if (before !== null && !sameEmail) await kvDelete(kv, kvKeys.identityEmail(before.email, record.identity_id));
}

/** Deletes the record and its index entry (the undo of a create that could not finish). */
export async function deleteIdentity(kv: KVNamespace, record: IdentityRecord): Promise<void> {
  await kvDelete(kv, kvKeys.identityEmail(record.email, record.identity_id));
  await kvDelete(kv, kvKeys.identity(record.identity_id));
}

/**
 * A page of identities in id order (or those with `email`, compared case-insensitively), from KV's list
 * (which sees a new name within about a minute) and one bulk read of the records.
 */
export async function identityPage(kv: KVNamespace, email: string | null, limit: number, cursor: string | null) {
  const prefix = email === null ? kvKeys.identity("") : kvKeys.identityEmail(email);
  const listed = await kvList(kv, prefix, Math.min(limit, KV_BULK_GET_MAX), cursor);
  const keys = listed.names.map((name) => kvKeys.identity(name.slice(prefix.length)));
  const records = await kvGetManyJson(kv, keys, IdentityRecordSchema);
  // A name listed just after its record was deleted (an undone create) has no record, and an index entry
  // outlived by an email change names a record with another email: both are left out.
  const identities = keys
    .map((key) => records.get(key) ?? null)
    .filter(
      (record): record is IdentityRecord => record !== null && (email === null || record.email.toLowerCase() === email.toLowerCase()),
    );
  // Revoked is what the markers say (see above), so the listing never shows a refused identity as enabled.
  const markers = await kvGetManyJson(
    kv,
    identities.map((record) => kvKeys.revokedIdentity(record.identity_id)),
    RevocationMarkerSchema,
  );
  const withRevocation = identities.map((record) => {
    const marker = markers.get(kvKeys.revokedIdentity(record.identity_id)) ?? null;
    return { ...record, revoked_at: marker?.at ?? record.revoked_at };
  });
  return { identities: withRevocation, cursor: listed.cursor };
}

/** An operator-log event (no workspace) about an identity. */
export function identityEvent(
  actor: AuditActor,
  record: Pick<IdentityRecord, "identity_id" | "email">,
  action: "identity.created" | "identity.revoked" | "identity.enabled",
  metadata?: Record<string, unknown>,
) {
  return auditEvent(actor, {
    workspaceId: null,
    action,
    resourceType: "identity",
    resourceId: record.identity_id,
    resourceName: record.email,
    metadata,
  });
}

/**
 * A disabled person's grants, revoked: the API keys they hold whose secret was issued before `before`, the
 * invitations they issued before it, and those addressed to their `email` (whoever would sign in with it);
 * null while they are disabled (everything, including what they hand out in the moments before every
 * location sees them disabled). Written when they are disabled, and again with the time they are
 * re-enabled, so re-enabling restores none of it. `at` is when it was written. Its `at` and `before` are
 * also the key's metadata, so a region's sweep finds what it has not applied from KV's list alone; a copy
 * under their email's hash (`revoked-email:`) lets an invitation's acceptance find it by the address.
 */
const RevokedBeforeSchema = z.object({ at: z.string(), before: z.string().nullable(), email: z.string().nullable().default(null) });
export type RevokedBefore = z.infer<typeof RevokedBeforeSchema>;

/** Whether the marker revokes something its person handed out at `issuedAt` (unknown: the oldest). */
export function revokes(marker: Pick<RevokedBefore, "before">, issuedAt: string | undefined): boolean {
  return marker.before === null || (issuedAt ?? "") < marker.before;
}

/**
 * Writes the marker: kept while the person is disabled; once re-enabled (`before` set), for longer than
 * anything handed out before then can live (keys last at most 90 days, invitations 30).
 */
export async function markGrantsRevoked(
  kv: KVNamespace,
  identity: Pick<IdentityRecord, "identity_id" | "email">,
  before: string | null,
): Promise<RevokedBefore> {
  const email = identity.email.toLowerCase();
  const expiry = before === null ? {} : { expirationTtl: MARKER_TTL_SECONDS };
  // The person's own marker first: it is what refuses their keys, and what the regions' sweeps find.
  const marker: RevokedBefore = { at: new Date().toISOString(), before, email };
  // The metadata (at most 1,024 bytes) leaves the email out: the sweep reads the value of what it applies.
  await kvPutJson(kv, kvKeys.revokedBefore(identity.identity_id), marker, { metadata: { at: marker.at, before }, ...expiry });
  await kvPutJson(kv, kvKeys.revokedEmail(await sha256Hex(email), identity.identity_id), marker, {
    metadata: { at: marker.at, before },
    ...expiry,
  });
  return marker;
}

/**
 * Whether an invitation made at `createdAt` by `inviter` to `email` was revoked by a disabled person's
 * marker: its issuer's, or that of anyone disabled who has its address (KV's list of those, whose
 * metadata is the marker: a name written in the last minute or so may not be listed yet).
 */
export async function invitationRevokedByMarker(kv: KVNamespace, invitation: { inviter: string | null; email: string; createdAt: string }) {
  const [issuer, addressed] = await Promise.all([
    invitation.inviter === null ? null : grantsRevokedBefore(kv, invitation.inviter),
    sha256Hex(invitation.email.toLowerCase()).then((hash) => kvListEntries(kv, kvKeys.revokedEmail(hash), 1000, null)),
  ]);
  const markers = [issuer, ...addressed.entries.map(({ metadata }) => RevokedBeforeSchema.safeParse(metadata).data ?? null)];
  return markers.some((marker) => marker != null && revokes(marker, invitation.createdAt));
}

export function grantsRevokedBefore(kv: KVNamespace, identityId: string): Promise<RevokedBefore | null> {
  return kvGetJson(kv, kvKeys.revokedBefore(identityId), RevokedBeforeSchema);
}

/** One page of every person's marker, from KV's list alone (a marker whose metadata does not parse is left out). */
export async function revokedBeforePage(kv: KVNamespace, cursor: string | null) {
  const prefix = kvKeys.revokedBefore("");
  const { entries, cursor: next } = await kvListEntries(kv, prefix, 1000, cursor);
  const markers = entries.flatMap(({ name, metadata }) => {
    const parsed = RevokedBeforeSchema.safeParse(metadata);
    return parsed.success ? [{ identityId: name.slice(prefix.length), marker: parsed.data }] : [];
  });
  return { markers, cursor: next };
}

/** The three values identityForIssuedToken reads, in one schema (kv.ts parses each text once per isolate). */
const IssuedTokenReadSchema = z.union([IdentityRecordSchema, RevokedBeforeSchema, RevocationMarkerSchema]);
