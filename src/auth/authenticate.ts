import { z } from "@hono/zod-openapi";
import { and, eq, getTableColumns, sql } from "drizzle-orm";
import { createMiddleware } from "hono/factory";
import type { AppContext, AppEnv } from "../core/env";
import { ApiError, errorBody, errorHeaders, internalError, UNAUTHORIZED_DETAIL } from "../core/errors";
import { bestEffort } from "../core/logger";
import { type ApiKeyPrincipal, accountableOf, creatorOf, type Principal, PrincipalSchema } from "../core/principal";
import { SECRET_PREFIXES, type SecretPrefix } from "../core/token-format";
import { AccessTokenRefused } from "../security/access-tokens";
import { bearerToken, credentialShape, presentedToken } from "../security/presented-credential";
import { claimedIssuer, ProviderTokenRefused } from "../security/provider-token";
import { blockAddress, countRequest, isBlockedAddress, rateLimited } from "../security/rate-limit";
import { sha256Hex, timingSafeEqualStrings } from "../security/secret";
import { isUsableServerSecret, MIN_SERVER_SECRET_LENGTH } from "../security/server-secret";
import { compiledSelect } from "../storage/d1/compiled";
import { apiKeys, type WorkspaceRow, workspaces } from "../storage/d1/schema";
import { revokes } from "../storage/identities";
import { kvDelete, kvGetJson, kvGetManyJson, kvKeys } from "../storage/kv";
import { accessTokenPrincipal, isOwnIssuer } from "./access-token-identity";
import { recordKeyUse } from "./key-use";
import { ProviderIdentityRefused, providerPrincipal } from "./provider-identity";

/** The one 401, whatever the reason: no oracle for which part of a credential was wrong. */
const unauthorized = () => new ApiError("unauthorized", UNAUTHORIZED_DETAIL);

/** Why a well-formed credential was refused: the security event's `reason`. */
type RefusalReason =
  | "unknown"
  | "expired"
  | "revoked"
  | "workspace_archived"
  | "superseded"
  | "not_in_workspace"
  | "holder_disabled"
  | ProviderTokenRefused["reason"]
  | AccessTokenRefused["reason"]
  | ProviderIdentityRefused["reason"];

/**
 * The one 401 for a well-formed credential that does not authenticate, logged as a security event with
 * its reason and ids (never the token). A malformed token is refused without a line: it costs no I/O, and
 * logging it would hand anyone a way to fill the logs.
 */
function refuseCredential(c: AppContext, reason: RefusalReason, fields: Record<string, unknown> = {}): ApiError {
  c.get("logger").warn("refused a credential", { reason, ...fields });
  return unauthorized();
}

/**
 * Refuses the presented API key with the one 401 and deletes its KV record off the response path. Only
 * for states that never revert (the key revoked, its workspace archived, its holder disabled: re-enabling
 * them restores none of their keys), so the purge can never remove a record that should have stayed.
 */
function refuseRevokedKey(c: AppContext, principal: ApiKeyPrincipal, reason: "revoked" | "workspace_archived" | "holder_disabled"): never {
  const { kv, logger } = c.get("storage");
  const record = kvKeys.principal(SECRET_PREFIXES.api_key, c.get("tokenHash"));
  const error = refuseCredential(c, reason, { principal_type: "api_key", key_id: principal.key_id, workspace_id: principal.workspace_id });
  c.executionCtx.waitUntil(
    kvDelete(kv, record).catch((err: unknown) => logger.warn("could not purge a revoked key's record", { cause: String(err) })),
  );
  throw error;
}

/**
 * The revocation markers (kv.ts), in one schema: a key's and a workspace's `{at}`, a person's `{at, before}`.
 * A key's or a workspace's counts by being there; a person's without a readable `before` revokes everything.
 */
const MarkerSchema = z.object({ at: z.string().optional(), before: z.string().nullable().optional() });

/**
 * The principal of a well-formed token (`parsedToken`): its SHA-256 is looked up in KV. An API key is also
 * refused when a revocation marker names it or its workspace (revoke and archive write those before they
 * commit, so a record that outlives either, a race or a failed delete, never authenticates), or when the
 * person who holds it was disabled after its secret was issued (in every region, before any region's D1
 * has revoked it). The three markers are one bulk read. Every failure is the same 401.
 */
async function verifiedPrincipal(c: AppContext, token: string, prefix: SecretPrefix): Promise<Principal> {
  const { kv } = c.get("storage");
  const tokenHash = await sha256Hex(token);
  const principalType = prefix === "pat" ? "identity" : "api_key";
  const principal = await kvGetJson(kv, kvKeys.principal(prefix, tokenHash), PrincipalSchema);
  if (principal === null || principal.type !== principalType) throw refuseCredential(c, "unknown", { principal_type: principalType });
  c.set("tokenHash", tokenHash);
  if (principal.type === "api_key") {
    // KV expiry is approximate (it may serve a record up to a minute late), so expiry is also checked here.
    const ids = { principal_type: principalType, key_id: principal.key_id, workspace_id: principal.workspace_id };
    if (Date.parse(principal.expires_at) <= Date.now()) throw refuseCredential(c, "expired", ids);
    const holder = accountableOf(principal);
    const [revoked, archived] = [kvKeys.revokedKey(principal.id), kvKeys.archivedWorkspace(principal.workspace_id)];
    const holderMarker = holder === null ? null : kvKeys.revokedBefore(holder);
    const markers = await kvGetManyJson(kv, holderMarker === null ? [revoked, archived] : [revoked, archived, holderMarker], MarkerSchema);
    if (markers.get(revoked)) refuseRevokedKey(c, principal, "revoked");
    if (markers.get(archived)) refuseRevokedKey(c, principal, "workspace_archived");
    const disabled = holderMarker === null ? null : markers.get(holderMarker);
    if (disabled && revokes({ before: disabled.before ?? null }, principal.secret_issued_at)) {
      refuseRevokedKey(c, principal, "holder_disabled");
    }
    await keyAsStored(c, principal);
  }
  return principal;
}

/** 421: what the request names lives in another region, whose deployment answers for it. */
export function misdirected(region: string) {
  return new ApiError("misdirected_request", `This workspace lives in region ${region}; send the request to that region's endpoint.`, {
    extra: { region },
  });
}

/** The workspace's columns and the key's current hash and revocation (null: no such key in it). */
const keyInWorkspaceFields = { ...getTableColumns(workspaces), keyHash: apiKeys.keyHash, keyRevokedAt: apiKeys.revokedAt };
const keyInWorkspaceQuery = compiledSelect(keyInWorkspaceFields, (select) =>
  select
    .from(workspaces)
    .leftJoin(apiKeys, and(eq(apiKeys.id, sql.placeholder("keyRowId")), eq(apiKeys.workspaceId, workspaces.id)))
    .where(eq(workspaces.id, sql.placeholder("workspaceId"))),
);

/** The workspace of each request's API key, as authentication read it with the key's row (authorize.ts uses it). */
const keyWorkspaces = new WeakMap<AppContext, WorkspaceRow>();

/** The authenticated API key's workspace: read once, by authentication, for every route. */
export function keyWorkspace(c: AppContext): WorkspaceRow {
  const workspace = keyWorkspaces.get(c);
  if (workspace === undefined) throw internalError(new Error("an API key's workspace was asked for before authentication read it"));
  return workspace;
}

/**
 * An API key is what its region's D1 says it is, on every route: its row and its workspace are read on
 * the primary (never a replica, whatever bookmark the client sent), so a KV record that outlived a
 * revocation (a delete, a member's removal or demotion, an archive) or a rotation is refused at the next
 * request, in any location, even where no revocation marker has propagated. A key of another region is
 * answered 421 on every route: only its own region can tell whether it still stands.
 */
async function keyAsStored(c: AppContext, principal: ApiKeyPrincipal): Promise<void> {
  const { primary, region } = c.get("storage");
  if (principal.region !== region) throw misdirected(principal.region);
  const [row] = await keyInWorkspaceQuery.all(primary.$client, { keyRowId: principal.id, workspaceId: principal.workspace_id });
  const ids = { principal_type: "api_key", key_id: principal.key_id, workspace_id: principal.workspace_id };
  // No key row: the key's record names a workspace or key this region's database does not hold.
  if (!row || row.keyHash === null) throw refuseCredential(c, "not_in_workspace", ids);
  // Another secret is current for this key: the presented one was rotated away.
  if (row.keyHash !== c.get("tokenHash")) throw refuseCredential(c, "superseded", ids);
  if (row.keyRevokedAt) refuseRevokedKey(c, principal, "revoked");
  if (row.archivedAt) refuseRevokedKey(c, principal, "workspace_archived");
  const { keyHash: _hash, keyRevokedAt: _revoked, ...workspace } = row;
  keyWorkspaces.set(c, workspace);
}

/**
 * A JWT as its identity: one of our own access tokens (decision 0040), or an identity provider's token.
 * Any refusal is the one 401 (logged with its reason).
 */
async function providerTokenPrincipal(c: AppContext, token: string): Promise<Principal> {
  const own = isOwnIssuer(c, claimedIssuer(token)?.issuer);
  try {
    return await (own ? accessTokenPrincipal(c, token) : providerPrincipal(c, token));
  } catch (err) {
    if (err instanceof AccessTokenRefused) throw refuseCredential(c, err.reason, { principal_type: "identity", via: "access_token" });
    if (err instanceof ProviderTokenRefused)
      throw refuseCredential(c, err.reason, { principal_type: "identity", via: "identity_provider" });
    if (err instanceof ProviderIdentityRefused) {
      const via = own ? "access_token" : "identity_provider";
      throw refuseCredential(c, err.reason, { principal_type: "identity", via, identity_id: err.identityId });
    }
    throw err;
  }
}

/**
 * Counts a failed authentication against the client's address; over the limit, the address is refused
 * (429) before any credential check until the period ends.
 */
async function countFailure(c: AppContext, address: string): Promise<void> {
  try {
    await countRequest(c, "AUTH_FAILURE_RATE_LIMIT", address);
  } catch (limited) {
    c.get("logger").warn("refused an address over its failed-authentication limit", { address });
    await bestEffort(c.get("logger"), "remember a blocked address", () => blockAddress(address));
    throw limited;
  }
}

/**
 * The client address failed authentications are counted against (`CF-Connecting-IP`), and whether it is
 * blocked now: a cache read, started here so that it runs beside the credential's check.
 */
function clientAddress(c: AppContext): { address: string | undefined; blocked: Promise<boolean> } {
  const address = c.req.header("cf-connecting-ip");
  return { address, blocked: address ? isBlockedAddress(address) : Promise.resolve(false) };
}

/**
 * A presented credential that did not verify, on the API and the admin surface alike (one limit per
 * address for both): 429 while the address is blocked, else counted against the address (429 once it is
 * over its limit) and refused with `refusal`, the one 401.
 */
async function refuseFailure(c: AppContext, address: string | undefined, isBlocked: boolean, refusal: ApiError): Promise<never> {
  if (isBlocked) throw rateLimited("AUTH_FAILURE_RATE_LIMIT");
  if (address) await countFailure(c, address);
  throw refusal;
}

/**
 * The one authentication path for /v1/*, with its limits. The credential is a personal access token or
 * an API key (a prefixed secret), or an identity provider's token (a JWT, from `Authorization` or
 * Cloudflare Access's header). A malformed token or a bad checksum is 401
 * before any I/O (guessing such tokens costs nothing, so they are not counted). A well-formed one is
 * verified (its KV read beside the address's block check, so that adds no wait). A token that does not
 * verify is counted against the address; once the address is over its failed-authentication limit, every
 * failure from it is 429 until the period ends. A token that verifies is never refused for its address's
 * failures (a misconfigured job behind a shared NAT must not lock out everyone else there): it counts
 * only against its own credential's limit (429).
 */
export const authenticate = createMiddleware<AppEnv>(async (c, next) => {
  const token = presentedToken((name) => c.req.header(name));
  const shape = credentialShape(token);
  if (token === null || shape === null) throw unauthorized();
  // The whole body (at most MAX_BODY_BYTES, request-size.ts) before the credential is checked: a client that
  // trickles its body cannot hold a request between its authorisation and its write for as long as it
  // likes, so a revocation (a delete, a removal, a disabling) stops everything that was not already
  // running. Hono keeps it for the validators and the Idempotency-Key's fingerprint.
  if (c.req.method !== "GET" && c.req.method !== "HEAD") await c.req.text();

  const client = clientAddress(c);
  const principalOf = shape === "jwt" ? providerTokenPrincipal(c, token) : verifiedPrincipal(c, token, shape);
  const verified = principalOf.then(
    (principal) => ({ principal }),
    (error: unknown) => ({ error }),
  );
  const [isBlocked, outcome] = await Promise.all([client.blocked, verified]);
  if ("error" in outcome) {
    const { error } = outcome;
    if (error instanceof ApiError && error.code === "unauthorized") await refuseFailure(c, client.address, isBlocked, error);
    throw error;
  }
  const { principal } = outcome;
  // A provider's tokens share one credential id per issuer (ours, one per sign-in): each person is limited on their own.
  const limitedAs = principal.type === "identity" && principal.issuer ? principal.identity_id : creatorOf(principal).createdByCredentialId;
  await countRequest(c, "CREDENTIAL_RATE_LIMIT", limitedAs);

  c.set("principal", principal);
  await next();
  if (principal.type === "api_key" && c.res.status !== 401) {
    const storage = c.get("storage");
    const recording = recordKeyUse(storage, principal.id);
    if (recording) {
      c.executionCtx.waitUntil(recording.catch((err: unknown) => storage.logger.warn("could not record key use", { cause: String(err) })));
    }
  }
});

/** Whether this isolate has logged that ADMIN_TOKEN is unusable: once is enough, every request would only repeat it. */
let adminTokenProblemLogged = false;

/**
 * The admin surface's 503 while ADMIN_TOKEN is unset or shorter than any server secret may be (a short
 * operator token could be guessed, and it opens every identity). Answered here rather than thrown: onError
 * would log each request, and the isolate logs the cause once.
 */
function adminSurfaceUnconfigured(c: AppContext): Response {
  if (!adminTokenProblemLogged) {
    adminTokenProblemLogged = true;
    c.get("logger").error(`ADMIN_TOKEN is unset or shorter than ${MIN_SERVER_SECRET_LENGTH} characters; the admin surface answers 503`);
  }
  const error = new ApiError("service_unavailable", "The admin surface is not configured on this deployment.");
  return c.json(errorBody(error, c.get("requestId")), 503, errorHeaders(error));
}

/**
 * The admin surface: `Authorization: Bearer <ADMIN_TOKEN>`, compared in constant time. A presented token
 * that is wrong counts against the client's address as a failed authentication does on the API (the same
 * limit, refuseFailure); no Authorization header at all is a 401 that guesses nothing and is not counted.
 */
export const requireAdmin = createMiddleware<AppEnv>(async (c, next) => {
  const expected = c.env.ADMIN_TOKEN;
  if (!isUsableServerSecret(expected)) return adminSurfaceUnconfigured(c);
  const client = clientAddress(c);
  const token = bearerToken(c.req.header("authorization"));
  const [isBlocked, matches] = await Promise.all([client.blocked, token !== null && timingSafeEqualStrings(token, expected)]);
  if (!matches) {
    c.get("logger").warn("refused an admin request", {
      reason: token === null ? "no_bearer_token" : "wrong_token",
      method: c.req.method,
      path: c.req.path,
    });
    if (token !== null) await refuseFailure(c, client.address, isBlocked, unauthorized());
    throw unauthorized();
  }
  await next();
});
