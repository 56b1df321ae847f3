import { getCookie } from "hono/cookie";
import { ProviderIdentityRefused, providerCredentialId, providerPrincipal, verifiedPersonPrincipal } from "../../auth/provider-identity";
import { issuerOf } from "../../auth/signing-ring";
import type { AppContext } from "../../core/env";
import { ApiError } from "../../core/errors";
import type { IdentityPrincipal } from "../../core/principal";
import { type KeyRing, pageTokenIssuedAt, signPageToken, verifyPageToken } from "../../security/access-tokens";
import { KeySetUnavailable } from "../../security/key-sets";
import { type OidcProvider, providerConfig } from "../../security/oidc-providers";
import { finishSignIn, SignInFailed, startSignIn } from "../../security/oidc-sign-in";
import { ProviderTokenRefused, verifyProviderToken } from "../../security/provider-token";
import { blockAddress, countRequest } from "../../security/rate-limit";
import { sha256Hex } from "../../security/secret";
import { normalizedUserCode, scopeString, scopesOf } from "../../security/sign-in-grants";
import { auditActorOf, auditEvent } from "../../storage/audit-events/record";
import type { DeviceAuthorizationRow } from "../../storage/d1/schema";
import { identityForIssuedToken } from "../../storage/identities";
import { decideDeviceAuthorization, deviceAuthorizationBy } from "../../storage/sign-ins";

/**
 * The approval page's work (decision 0040): who is signed in (Cloudflare Access's header, or the page's
 * own session after a sign-in at a provider by the code flow with PKCE), which pending request a typed code
 * names (wrong codes counted), and the person's decision with its audit event.
 */

export type SignInProvider = OidcProvider & { client_id: string };

/** The providers a person can sign in to the page through: those configured with a client. */
export function signInProviders(c: AppContext): SignInProvider[] {
  const config = providerConfig(c.env.OIDC_PROVIDERS);
  if ("invalid" in config) return [];
  return [...config.providers.values()].filter((provider): provider is SignInProvider => provider.client_id !== undefined);
}

/** The `__Host-` cookies: HttpOnly, Secure, SameSite=Lax, the whole origin, short-lived. */
export const cookieOptions = (maxAge: number) =>
  ({ path: "/", secure: true, httpOnly: true, sameSite: "Lax", maxAge, prefix: "host" }) as const;
export const SESSION_COOKIE = "device-session";
export const LOGIN_COOKIE = "device-login";

/**
 * The signed-in person, or null: whoever Cloudflare Access signed in (its header, verified as a provider's
 * token), else the page's own session cookie, as long as the person is not disabled. A page is never sent
 * bearer tokens.
 */
export async function signedInPerson(c: AppContext, ring: KeyRing): Promise<IdentityPrincipal | null> {
  const assertion = c.req.header("cf-access-jwt-assertion")?.trim();
  if (assertion) {
    try {
      return await providerPrincipal(c, assertion);
    } catch (err) {
      if (err instanceof ApiError) throw err;
      c.get("logger").warn("refused the approval page's sign-in", { reason: err instanceof Error ? err.message : String(err) });
      return null;
    }
  }
  const cookie = getCookie(c, SESSION_COOKIE, "host");
  const session = cookie === undefined ? null : await verifyPageToken(ring, issuerOf(c), "session", cookie);
  const issuedAt = session === null ? null : pageTokenIssuedAt(session);
  if (typeof session?.sub !== "string" || typeof session.idp !== "string" || issuedAt === null) return null;
  const { record, refused } = await identityForIssuedToken(c.get("storage").kv, session.sub, issuedAt);
  if (record === null || refused) return null;
  const { identity_id, email, email_verified, display_name, scopes } = record;
  const credential_id = await providerCredentialId(session.idp);
  return { type: "identity", identity_id, credential_id, email, email_verified, display_name, scopes, issuer: session.idp };
}

/**
 * Every lookup of a typed code, counted before it is made, against the person and the address (the
 * failed-authentication limit, each under a key of its own; over the address's, the address is blocked as
 * authentication blocks it): 429 past either, and nothing looked up, so neither a burst nor many addresses
 * nor many guesses can tell a live code from a dead one faster than the limit. A person approving their
 * own terminal looks up one or two.
 */
export async function countCodeLookup(c: AppContext, person: IdentityPrincipal): Promise<void> {
  const address = c.req.header("cf-connecting-ip");
  try {
    await countRequest(c, "AUTH_FAILURE_RATE_LIMIT", `user-code:${person.identity_id}`);
  } catch (err) {
    c.get("logger").warn("refused an approval page over its code-lookup limit", { identity_id: person.identity_id });
    throw err;
  }
  if (!address) return;
  try {
    await countRequest(c, "AUTH_FAILURE_RATE_LIMIT", `user-code-address:${address}`);
  } catch (err) {
    await blockAddress(address).catch(() => undefined);
    c.get("logger").warn("refused an approval page over its code-lookup limit", { address });
    throw err;
  }
}

/** The pending, unexpired request a typed code names, or undefined. */
export async function pendingRequest(c: AppContext, typed: string): Promise<DeviceAuthorizationRow | undefined> {
  const code = normalizedUserCode(typed);
  if (code === null) return undefined;
  const row = await deviceAuthorizationBy(c.get("storage").db, { userCodeHash: await sha256Hex(code) });
  return row?.state === "pending" && Date.parse(row.expiresAt) > Date.now() ? row : undefined;
}

/** A typed code as the terminal shows it: `XXXX-XXXX`. */
export const shownCode = (typed: string) => {
  const code = normalizedUserCode(typed) ?? "";
  return `${code.slice(0, 4)}-${code.slice(4)}`;
};

/** What approving grants: the scopes asked for (all, when none were named), as far as the person has them. */
export const grantedScope = (request: DeviceAuthorizationRow, person: IdentityPrincipal) =>
  scopeString(request.scope === "" ? person.scopes : scopesOf(request.scope).filter((scope) => person.scopes.includes(scope)));

/** The person's decision, recorded in the operator log with it; false when the request was no longer pending. */
export async function recordDecision(c: AppContext, person: IdentityPrincipal, request: DeviceAuthorizationRow, approve: boolean) {
  const state = approve ? "approved" : "denied";
  const scope = grantedScope(request, person);
  const at = new Date().toISOString();
  const actor = {
    ...auditActorOf(c),
    entityId: person.identity_id,
    credentialId: person.credential_id,
    credentialIssuer: person.issuer ?? null,
  };
  const event = auditEvent(
    actor,
    {
      workspaceId: null,
      action: approve ? "device_authorization.approved" : "device_authorization.denied",
      resourceType: "device_authorization",
      resourceId: request.id,
      resourceName: request.clientDescription,
      metadata: {
        client_description: request.clientDescription,
        scopes: scopesOf(scope),
        requested_from_address: request.requestedFromAddress,
        requested_from_country: request.requestedFromCountry,
      },
    },
    at,
  );
  return decideDeviceAuthorization(c.get("storage").db, request.id, { state, identityId: person.identity_id, scope, at }, event);
}

const callbackUri = (c: AppContext) => `${issuerOf(c)}/device/callback`;

/** Where to send the person to sign in at `provider`, and the signed cookie value that keeps the PKCE verifier, state and nonce. */
export async function beginProviderSignIn(c: AppContext, ring: KeyRing, provider: SignInProvider, userCode: string | undefined) {
  const started = await startSignIn(provider, callbackUri(c));
  const { state, nonce, codeVerifier } = started.kept;
  const claims = { nonce, cv: codeVerifier, idp: provider.issuer, code: userCode ?? "" };
  return { url: started.url, login: await signPageToken(ring, issuerOf(c), "login", state, claims) };
}

/**
 * The person's return from the provider, with the login cookie: the code exchanged, the ID token verified
 * (for the client's audience) and the person found or created. Null when the login cookie is missing or
 * stale; `failed` when the provider did not sign them in.
 */
export async function completeProviderSignIn(c: AppContext, ring: KeyRing) {
  const cookie = getCookie(c, LOGIN_COOKIE, "host");
  const login = cookie === undefined ? null : await verifyPageToken(ring, issuerOf(c), "login", cookie);
  const provider = signInProviders(c).find((candidate) => candidate.issuer === login?.idp);
  if (login === null || provider === undefined || typeof login.sub !== "string") return null;
  const kept = { state: login.sub, nonce: String(login.nonce), codeVerifier: String(login.cv) };
  const userCode = typeof login.code === "string" ? login.code : "";
  const binding = provider.client_secret_binding;
  const secret = binding === undefined ? undefined : (c.env as unknown as Record<string, unknown>)[binding];
  try {
    const idToken = await finishSignIn(provider, callbackUri(c), new URL(c.req.url), kept, typeof secret === "string" ? secret : undefined);
    const config = providerConfig(c.env.OIDC_PROVIDERS);
    const verified = await verifyProviderToken("providers" in config ? config.providers : new Map(), idToken, provider.client_id);
    const person = await verifiedPersonPrincipal(c, verified);
    const session = await signPageToken(ring, issuerOf(c), "session", person.identity_id, { idp: provider.issuer });
    return { session, userCode };
  } catch (err) {
    const refused = err instanceof ProviderTokenRefused || err instanceof ProviderIdentityRefused;
    if (!(refused || err instanceof SignInFailed || err instanceof KeySetUnavailable)) throw err;
    c.get("logger").warn("a sign-in at an identity provider failed", { issuer: provider.issuer, cause: err.message });
    return { failed: true as const, userCode };
  }
}
