import { signInWorkspaces } from "../../auth/memberships";
import type { Scope } from "../../core/domain";
import type { Storage } from "../../core/env";
import { GRANT_PREFIXES } from "../../core/token-format";
import { ACCESS_TOKEN_LIFETIME_SECONDS, type KeyRing, signAccessToken } from "../../security/access-tokens";
import { generateSecret, parseSecret, sha256Hex } from "../../security/secret";
import {
  DEVICE_CODE_LIFETIME_SECONDS,
  newUserCode,
  normalizedUserCode,
  POLL_INTERVAL_SECONDS,
  REFRESH_IDLE_SECONDS,
  requestedScopes,
  SIGN_IN_MAX_SECONDS,
  scopeString,
  scopesOf,
  shownText,
} from "../../security/sign-in-grants";
import { type AuditActor, auditEvent } from "../../storage/audit-events/record";
import type { DeviceAuthorizationRow, RefreshTokenRow } from "../../storage/d1/schema";
import { identityForIssuedToken } from "../../storage/identities";
import {
  consumeDeviceAuthorization,
  deviceAuthorizationBy,
  insertDeviceAuthorization,
  type NewRefreshToken,
  recordPoll,
  refreshTokenByHash,
  revokeFamily,
  rotateRefreshToken,
} from "../../storage/sign-ins";
import type { OAuthErrorCode } from "./schemas";

/**
 * The sign-in grants (decision 0040): a terminal asks for a device code, its person approves it on the page
 * (device-page/), the terminal polls for tokens; refresh tokens rotate on every use and a reused one ends
 * its whole sign-in.
 */

/** What the grants need of the request: this region's storage, the key ring, our issuer, who asks from where. */
export type GrantContext = { storage: Storage; ring: KeyRing; issuer: string; actor: AuditActor; country: string | null };

const inSeconds = (seconds: number, from = Date.now()) => new Date(from + seconds * 1000).toISOString();

/** `POST /device/code`: a new request, its codes hashed at rest; the answer holds them once. */
export async function startDeviceAuthorization(
  { storage, issuer, actor, country }: GrantContext,
  request: { client_description?: string; scope?: string },
) {
  const asked = requestedScopes(request.scope);
  if ("unknown" in asked) throw new OAuthFailure("invalid_scope", `Unknown scope: ${asked.unknown}.`);
  const deviceCode = generateSecret(GRANT_PREFIXES.device_code);
  const userCode = newUserCode();
  const now = Date.now();
  const description = shownText(request.client_description) ?? "A client that did not describe itself";
  await insertDeviceAuthorization(storage.db, {
    id: crypto.randomUUID(),
    deviceCodeHash: await sha256Hex(deviceCode),
    userCodeHash: await sha256Hex(normalizedUserCode(userCode) ?? userCode),
    clientDescription: description,
    scope: asked.scopes === null ? "" : scopeString(asked.scopes),
    requestedFromAddress: actor.ipAddress,
    requestedFromCountry: country,
    requestedByAgent: shownText(actor.userAgent),
    state: "pending",
    intervalSeconds: POLL_INTERVAL_SECONDS,
    createdAt: new Date(now).toISOString(),
    expiresAt: inSeconds(DEVICE_CODE_LIFETIME_SECONDS, now),
  });
  const verificationUri = `${issuer}/device`;
  return {
    device_code: deviceCode,
    user_code: userCode,
    verification_uri: verificationUri,
    verification_uri_complete: `${verificationUri}?user_code=${userCode}`,
    expires_in: DEVICE_CODE_LIFETIME_SECONDS,
    interval: POLL_INTERVAL_SECONDS,
  };
}

/** The tokens of a grant: an access token for `workspaceId` (null: a bootstrap token) and the next refresh token. */
export type IssuedTokens = { access_token: string; token_type: "Bearer"; expires_in: number; scope: string; refresh_token: string };

/** A 300 for a person with several workspaces, as the SDK's loginWithDeviceCode reads it. */
export type WorkspaceSelection = {
  error: "workspace_selection_required";
  error_description: string;
  workspaces: { workspace_id: string; role: "owner" | "admin" | "member" | "viewer"; name: string }[];
  scope: string;
  refresh_token: string;
};

async function accessTokenFor(grant: GrantContext, identityId: string, familyId: string, workspaceId: string | null, scopes: Scope[]) {
  return signAccessToken(grant.ring, grant.issuer, { sub: identityId, sid: familyId, workspace_id: workspaceId, scopes });
}

function refreshRow(from: Omit<NewRefreshToken, "id" | "tokenHash" | "issuedAt" | "expiresAt">, tokenHash: string): NewRefreshToken {
  const now = Date.now();
  return {
    ...from,
    id: crypto.randomUUID(),
    tokenHash,
    issuedAt: new Date(now).toISOString(),
    expiresAt: inSeconds(REFRESH_IDLE_SECONDS, now),
  };
}

/** The workspace a token may be for: one of the person's here, else invalid_grant (the grant is left as it was). */
async function chosenWorkspace(storage: Storage, identityId: string, workspaceId: string) {
  const choices = await signInWorkspaces(storage, identityId);
  const chosen = choices.find((choice) => choice.workspace_id === workspaceId.toLowerCase());
  if (chosen === undefined) {
    throw new OAuthFailure("invalid_grant", `You are not a member of workspace ${workspaceId} in this region.`);
  }
  return { chosen, choices };
}

/** The person behind a grant may still sign in: not disabled, and not disabled since the sign-in began. */
async function personStillAllowed(storage: Storage, identityId: string, since: string): Promise<boolean> {
  return !(await identityForIssuedToken(storage.kv, identityId, Date.parse(since))).refused;
}

const pollTooSoon = (row: DeviceAuthorizationRow, now: number) =>
  row.lastPolledAt !== null && now - Date.parse(row.lastPolledAt) < row.intervalSeconds * 1000 - 500;

/**
 * `POST /token`, `grant_type=device_code`: RFC 8628 §3.5's answers until the person decides; then, once,
 * the tokens: for `workspaceId` if given, else for the person's one workspace here, a bootstrap token
 * when they have none, and a 300 listing them when they have several.
 */
export async function pollDeviceAuthorization(
  grant: GrantContext,
  deviceCode: string,
  workspaceId: string | undefined,
): Promise<IssuedTokens | WorkspaceSelection> {
  const { storage } = grant;
  const row =
    parseSecret(deviceCode) === GRANT_PREFIXES.device_code
      ? await deviceAuthorizationBy(storage.db, { deviceCodeHash: await sha256Hex(deviceCode) })
      : undefined;
  if (row === undefined) throw new OAuthFailure("invalid_grant", "The device code is not valid.");
  const now = Date.now();
  if (row.state === "consumed") throw new OAuthFailure("invalid_grant", "The device code was used already.");
  if (row.state === "denied") throw new OAuthFailure("access_denied", "The person denied this sign-in.");
  // An approval does not outlive the code: a poller that comes back after it expired starts again.
  if (Date.parse(row.expiresAt) <= now) throw new OAuthFailure("expired_token", "The device code expired; ask for a new one.");
  if (row.state === "pending") {
    const tooSoon = pollTooSoon(row, now);
    await recordPoll(storage.db, row.id, new Date(now).toISOString(), row.intervalSeconds + (tooSoon ? 5 : 0));
    if (tooSoon) throw new OAuthFailure("slow_down", `Polling too often: wait ${row.intervalSeconds + 5} seconds between polls.`);
    throw new OAuthFailure("authorization_pending", "The person has not approved this sign-in yet.");
  }
  const identityId = row.identityId as string;
  const familyCreatedAt = row.decidedAt as string;
  if (!(await personStillAllowed(storage, identityId, familyCreatedAt)))
    throw new OAuthFailure("access_denied", "This person may not sign in.");
  const scopes = scopesOf(row.scope);
  let workspace: string | null;
  let choices: Awaited<ReturnType<typeof signInWorkspaces>>;
  if (workspaceId !== undefined) {
    const found = await chosenWorkspace(storage, identityId, workspaceId);
    workspace = found.chosen.workspace_id;
    choices = found.choices;
  } else {
    choices = await signInWorkspaces(storage, identityId);
    workspace = choices.length === 1 ? (choices[0]?.workspace_id ?? null) : null;
  }
  const refreshToken = generateSecret(GRANT_PREFIXES.refresh_token);
  const first = refreshRow(
    {
      familyId: crypto.randomUUID(),
      identityId,
      workspaceId: workspace,
      scope: row.scope,
      clientDescription: row.clientDescription,
      familyCreatedAt,
    },
    await sha256Hex(refreshToken),
  );
  if (!(await consumeDeviceAuthorization(storage.db, row.id, first)))
    throw new OAuthFailure("invalid_grant", "The device code was used already.");
  if (workspace === null && choices.length > 1) {
    return {
      error: "workspace_selection_required",
      error_description: "Choose a workspace, then exchange the refresh token for it (grant_type=refresh_token, workspace_id).",
      workspaces: choices,
      scope: row.scope,
      refresh_token: refreshToken,
    };
  }
  const accessToken = await accessTokenFor(grant, identityId, first.familyId, workspace, scopes);
  return {
    access_token: accessToken,
    token_type: "Bearer",
    expires_in: ACCESS_TOKEN_LIFETIME_SECONDS,
    scope: row.scope,
    refresh_token: refreshToken,
  };
}

/** Ends the family of a token that was presented again after it was spent, recorded once. */
async function revokeForReuse(grant: GrantContext, row: RefreshTokenRow): Promise<never> {
  const event = signInEvent(grant.actor, row, "sign_in.revoked_for_reuse", { reason: "refresh_token_reused" });
  if (await revokeFamily(grant.storage.db, row.familyId, "refresh_token_reused", new Date().toISOString(), event)) {
    grant.storage.logger.warn("a spent refresh token was used again: its sign-in is revoked", {
      sign_in_id: row.familyId,
      identity_id: row.identityId,
    });
  }
  throw new OAuthFailure("invalid_grant", "The refresh token is not valid.");
}

/**
 * `POST /token`, `grant_type=refresh_token`: the token is spent and the next one issued with an access
 * token for `workspaceId` (or the sign-in's workspace). A spent token presented again revokes its whole
 * sign-in; a dead, revoked or unknown one, or a disabled person, is `invalid_grant`. `scope` may narrow
 * what the sign-in was granted, never widen it.
 */
export async function refresh(
  grant: GrantContext,
  request: { refresh_token: string; workspace_id?: string; scope?: string },
): Promise<IssuedTokens> {
  const { storage } = grant;
  const invalid = new OAuthFailure("invalid_grant", "The refresh token is not valid.");
  if (parseSecret(request.refresh_token) !== GRANT_PREFIXES.refresh_token) throw invalid;
  const row = await refreshTokenByHash(storage.db, await sha256Hex(request.refresh_token));
  if (row === undefined || row.revokedAt !== null) throw invalid;
  if (row.spentAt !== null) return revokeForReuse(grant, row);
  const at = new Date().toISOString();
  if (row.expiresAt <= at || Date.parse(row.familyCreatedAt) + SIGN_IN_MAX_SECONDS * 1000 <= Date.now()) throw invalid;
  if (!(await personStillAllowed(storage, row.identityId, row.familyCreatedAt))) {
    await revokeFamily(storage.db, row.familyId, "identity_disabled", at, null);
    throw invalid;
  }
  const granted = scopesOf(row.scope);
  const asked = requestedScopes(request.scope);
  if ("unknown" in asked) throw new OAuthFailure("invalid_scope", `Unknown scope: ${asked.unknown}.`);
  if (asked.scopes?.some((scope) => !granted.includes(scope))) {
    throw new OAuthFailure("invalid_scope", "A refresh may narrow the sign-in's scopes, never widen them.");
  }
  const scopes = asked.scopes ?? granted;
  const workspaceId = request.workspace_id ?? row.workspaceId;
  const workspace = workspaceId === null ? null : (await chosenWorkspace(storage, row.identityId, workspaceId)).chosen.workspace_id;
  const refreshToken = generateSecret(GRANT_PREFIXES.refresh_token);
  const { familyId, identityId, clientDescription, familyCreatedAt } = row;
  const next = refreshRow(
    { familyId, identityId, workspaceId: workspace, scope: row.scope, clientDescription, familyCreatedAt },
    await sha256Hex(refreshToken),
  );
  // Lost to a concurrent use of the same token: one of the two presenting it is not its holder.
  if (!(await rotateRefreshToken(storage.db, row, next, at))) return revokeForReuse(grant, row);
  const accessToken = await accessTokenFor(grant, identityId, familyId, workspace, scopes);
  return {
    access_token: accessToken,
    token_type: "Bearer",
    expires_in: ACCESS_TOKEN_LIFETIME_SECONDS,
    scope: scopeString(scopes),
    refresh_token: refreshToken,
  };
}

/** `POST /revoke` (RFC 7009) with a refresh token: its whole sign-in ends, recorded. Anything else: nothing to do. */
export async function revokeRefreshToken(grant: GrantContext, token: string): Promise<void> {
  if (parseSecret(token) !== GRANT_PREFIXES.refresh_token) return;
  const row = await refreshTokenByHash(grant.storage.db, await sha256Hex(token));
  if (row === undefined) return;
  await revokeSignIn(grant, row.familyId, row);
}

/** Ends a sign-in (its refresh tokens), with `sign_in.revoked` when this call ended it. */
export async function revokeSignIn(
  grant: GrantContext,
  familyId: string,
  row: Pick<RefreshTokenRow, "familyId" | "identityId" | "clientDescription">,
) {
  const event = signInEvent(grant.actor, row, "sign_in.revoked", { reason: "revoked_by_client" });
  await revokeFamily(grant.storage.db, familyId, "revoked_by_client", new Date().toISOString(), event);
}

/** An operator-log event about a sign-in (a refresh-token family): its id and the client's description. */
function signInEvent(
  actor: AuditActor,
  row: Pick<RefreshTokenRow, "familyId" | "identityId" | "clientDescription">,
  action: "sign_in.revoked" | "sign_in.revoked_for_reuse",
  metadata: Record<string, unknown>,
) {
  return auditEvent(
    { ...actor, entityId: actor.entityId ?? row.identityId },
    {
      workspaceId: null,
      action,
      resourceType: "sign_in",
      resourceId: row.familyId,
      resourceName: row.clientDescription,
      metadata: { ...metadata, identity_id: row.identityId, client_description: row.clientDescription },
    },
  );
}

/** An OAuth error answer (RFC 6749 §5.2): 400 unless said otherwise. */
export class OAuthFailure extends Error {
  constructor(
    readonly error: OAuthErrorCode,
    readonly description: string,
  ) {
    super(error);
  }
}
