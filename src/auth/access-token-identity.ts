import type { AppContext } from "../core/env";
import type { IdentityPrincipal } from "../core/principal";
import { AccessTokenRefused, deploymentIssuer, signingKeys, verifyAccessToken } from "../security/access-tokens";
import { identityForIssuedToken } from "../storage/identities";
import { ProviderIdentityRefused } from "./provider-identity";

/**
 * One of our own access tokens (decision 0040) as its person, for its workspace and scopes: verified with
 * the deployment's key ring, then the person read with their revocation markers (one bulk KV read), so a
 * person disabled on the admin surface is refused at once, and for good for what was issued before (an
 * enable restores nothing), and the token's scopes are narrowed to what the person may still do.
 */

/** Whether the token names us as its issuer (read unverified: only to choose how it is verified). */
export function isOwnIssuer(c: AppContext, claimedIssuer: unknown): boolean {
  const issuer = deploymentIssuer(c.env.PUBLIC_URL, c.req.url);
  return issuer !== null && claimedIssuer === issuer;
}

export async function accessTokenPrincipal(c: AppContext, token: string): Promise<IdentityPrincipal> {
  const keys = await signingKeys(c.env.IDENTITY_SIGNING_KEYS);
  // Without a ring no token of ours can verify: it is as unknown as a token of a retired key.
  if (!("ring" in keys)) throw new AccessTokenRefused("unknown_key");
  const issuer = deploymentIssuer(c.env.PUBLIC_URL, c.req.url) as string;
  const claims = await verifyAccessToken(keys.ring, issuer, token);
  const { record, refused } = await identityForIssuedToken(c.get("storage").kv, claims.sub, claims.issuedAt);
  if (record === null || refused) throw new ProviderIdentityRefused("revoked", claims.sub);
  return {
    type: "identity",
    identity_id: record.identity_id,
    credential_id: claims.sid,
    email: record.email,
    email_verified: record.email_verified,
    display_name: record.display_name,
    scopes: claims.scopes.filter((scope) => record.scopes.includes(scope)),
    issuer,
    token_expires_at: claims.expiresAt,
    token_workspace_id: claims.workspace_id,
  };
}
