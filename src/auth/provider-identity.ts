import type { AppContext } from "../core/env";
import { ApiError } from "../core/errors";
import { bestEffort } from "../core/logger";
import type { IdentityPrincipal } from "../core/principal";
import { KeySetUnavailable } from "../security/key-sets";
import { providerConfig } from "../security/oidc-providers";
import { type VerifiedProviderToken, verifyProviderToken } from "../security/provider-token";
import { derivedUuid } from "../security/secret";
import { type AuditActor, auditActorOf, insertEvent } from "../storage/audit-events/record";
import {
  deleteIdentity,
  getIdentity,
  type IdentityRecord,
  identityEvent,
  identityWithRevocation,
  saveIdentity,
} from "../storage/identities";

/**
 * An identity provider's token as an identity principal (docs/guides/identity-providers.md). The person is
 * (issuer, `sub`): its identity id is derived from that pair, so the first valid token creates it and
 * every later one (or a concurrent first one) finds the same identity. Disabled on the admin surface, it
 * is refused at once; its email and name follow the provider's claims.
 */

/** Why a verified token still does not sign anyone in. */
export class ProviderIdentityRefused extends Error {
  constructor(
    readonly reason: "revoked" | "no_email",
    readonly identityId: string,
  ) {
    super(reason);
  }
}

/** The identity's id, from (issuer, subject). */
export const providerIdentityId = (issuer: string, subject: string) => derivedUuid(`oidc-identity\n${issuer}\n${subject}`);

/** What the trail records as `actor_credential_id` for a provider's tokens: one id per issuer. */
export const providerCredentialId = (issuer: string) => derivedUuid(`oidc-issuer\n${issuer}`);

/**
 * Verifies the token and finds (or creates) its identity. A refused token throws `ProviderTokenRefused`
 * or `ProviderIdentityRefused` (authenticate.ts answers both with the one 401); a provider whose keys
 * cannot be fetched, or a configuration that cannot be read, is a 503 for this provider's tokens only.
 */
export async function providerPrincipal(c: AppContext, token: string): Promise<IdentityPrincipal> {
  const config = providerConfig(c.env.OIDC_PROVIDERS);
  if ("invalid" in config) {
    c.get("logger").error("OIDC_PROVIDERS cannot be used; identity-provider tokens are refused with 503", { why: config.invalid });
    throw new ApiError("service_unavailable", "Sign-in through an identity provider is unavailable; retry shortly.");
  }
  let verified: VerifiedProviderToken;
  try {
    verified = await verifyProviderToken(config.providers, token);
  } catch (err) {
    if (!(err instanceof KeySetUnavailable)) throw err;
    c.get("logger").warn("could not fetch an identity provider's keys", { cause: err.message });
    throw new ApiError("service_unavailable", "The identity provider's keys cannot be fetched; retry shortly.", { cause: err });
  }
  return verifiedPersonPrincipal(c, verified);
}

/** The person of a verified provider token (an API bearer token, or the sign-in page's ID token): found, or created. */
export async function verifiedPersonPrincipal(c: AppContext, verified: VerifiedProviderToken): Promise<IdentityPrincipal> {
  const { issuer } = verified.provider;
  const [identityId, credentialId] = await Promise.all([providerIdentityId(issuer, verified.subject), providerCredentialId(issuer)]);
  const { record: found, revokedAt } = await identityWithRevocation(c.get("storage").kv, identityId);
  if (revokedAt !== null) throw new ProviderIdentityRefused("revoked", identityId);
  const principal: IdentityPrincipal = {
    type: "identity",
    identity_id: identityId,
    credential_id: credentialId,
    email: verified.email ?? found?.email ?? "",
    email_verified: verified.email === null ? (found?.email_verified ?? false) : verified.emailVerified,
    display_name: verified.name ?? found?.display_name ?? null,
    scopes: verified.scopes,
    issuer,
    token_expires_at: verified.expiresAt,
  };
  if (found === null) {
    if (verified.email === null) throw new ProviderIdentityRefused("no_email", identityId);
    const actor = { ...auditActorOf(c), entityId: identityId, credentialId, credentialIssuer: issuer };
    await createProviderIdentity(c, principal, verified.subject, actor);
    return principal;
  }
  keepProfileCurrent(c, found, principal);
  return principal;
}

/**
 * The identity's record (KV), then `identity.created` in this region's operator log, its event id derived
 * from the identity's so concurrent first requests record it once. If the event cannot be written, the
 * record goes again and the client gets 503: the next token creates the same identity.
 */
async function createProviderIdentity(c: AppContext, principal: IdentityPrincipal, subject: string, actor: AuditActor) {
  const { db, kv, logger } = c.get("storage");
  const record: IdentityRecord = {
    identity_id: principal.identity_id,
    email: principal.email,
    email_verified: principal.email_verified ?? true,
    display_name: principal.display_name,
    scopes: principal.scopes,
    token_hashes: [],
    created_at: new Date().toISOString(),
    revoked_at: null,
    issuer: principal.issuer ?? null,
    subject,
  };
  try {
    await saveIdentity(kv, record);
  } catch (err) {
    // KV takes one write a second per key: a concurrent first request may have written the same record.
    if ((await getIdentity(kv, record.identity_id).catch(() => null)) === null) throw err;
  }
  const event = identityEvent(actor, record, "identity.created", { scopes: record.scopes });
  try {
    await insertEvent(db, { ...event, id: await derivedUuid(`identity.created\n${record.identity_id}`) }).onConflictDoNothing();
  } catch (err) {
    await bestEffort(logger, "undo a provider identity's creation", () => deleteIdentity(kv, record), { identity_id: record.identity_id });
    throw err;
  }
  logger.info("identity created on its first provider token", { identity_id: record.identity_id, issuer: record.issuer });
}

/**
 * A changed email or name at the provider is written back off the response path, onto the record as read
 * again then (a revocation since leaves it alone; one that lands in between is still kept by its marker).
 */
function keepProfileCurrent(c: AppContext, found: IdentityRecord, principal: IdentityPrincipal) {
  const current = { email: principal.email, email_verified: principal.email_verified ?? true, display_name: principal.display_name };
  const same = (record: IdentityRecord) =>
    current.email === record.email && current.email_verified === record.email_verified && current.display_name === record.display_name;
  if (same(found)) return;
  const { kv, logger } = c.get("storage");
  const update = async () => {
    const { record, revokedAt } = await identityWithRevocation(kv, found.identity_id);
    if (record !== null && revokedAt === null && !same(record)) await saveIdentity(kv, { ...record, ...current }, record);
  };
  c.executionCtx.waitUntil(bestEffort(logger, "update a provider identity's profile", update, { identity_id: found.identity_id }));
}
