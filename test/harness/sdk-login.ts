/**
 * The official SDK's sign-in, reproduced call for call (amigo-ai/amigo-platform-typescript-sdk, src/core/
 * device-code.ts, v0.46.0; it is not on the registry): form-encoded POSTs with `redirect: "manual"`, the
 * 300 read as a workspace choice, a bootstrap token sent to /self/profile, `exp` and `workspace_id` read
 * from the JWT's payload. `client` is the SDK's identityBaseUrl and fetch: the Worker inside workerd
 * (device-flow.ts), or `wrangler dev` (the browser test).
 */
import { decodeJwt } from "jose";

export type IdentityClient = { baseUrl: string; fetch: typeof fetch };

type DeviceCodeIssuance = {
  device_code: string;
  user_code: string;
  verification_uri: string;
  verification_uri_complete: string;
  expires_in: number;
  interval: number;
};
type TokenAnswer = { access_token: string; token_type: string; expires_in: number; scope: string; refresh_token?: string };
type WorkspaceChoice = { workspace_id: string; role?: string; name?: string };
export type AuthResult = { accessToken: string; refreshToken: string; workspaceId: string; expiresAt: number; scope: string };

/** The SDK's AmigoError, as far as the tests read it. */
export class SdkError extends Error {
  constructor(
    message: string,
    readonly errorCode?: string,
    readonly statusCode?: number,
  ) {
    super(message);
  }
}

const form = (fields: Record<string, string | undefined>) => {
  const body = new URLSearchParams();
  for (const [name, value] of Object.entries(fields)) if (value) body.set(name, value);
  return body;
};

function identityPost(client: IdentityClient, path: string, body: URLSearchParams) {
  return client.fetch(`${client.baseUrl}${path}`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: body.toString(),
    redirect: "manual",
  });
}

export async function requestDeviceCode(client: IdentityClient, params: { clientDescription?: string; scope?: string }) {
  const res = await identityPost(client, "/device/code", form({ client_description: params.clientDescription, scope: params.scope }));
  if (res.status === 429) throw new SdkError("Rate limited", "rate_limited", 429);
  if (!res.ok) {
    const err = (await res.json().catch(() => ({}))) as Record<string, string>;
    throw new SdkError(err.error_description ?? `Identity error (${res.status})`, err.error, res.status);
  }
  return (await res.json()) as DeviceCodeIssuance;
}

type PollResult =
  | { type: "token"; data: TokenAnswer }
  | { type: "pending" }
  | { type: "slow_down" }
  | { type: "multi_workspace"; data: { workspaces: WorkspaceChoice[]; refresh_token?: string } };

export async function pollDeviceCode(
  client: IdentityClient,
  deviceCode: string,
  scope?: string,
  workspaceId?: string,
): Promise<PollResult> {
  const res = await identityPost(
    client,
    "/token",
    form({ grant_type: "device_code", device_code: deviceCode, scope, workspace_id: workspaceId }),
  );
  if (res.status === 300)
    return { type: "multi_workspace", data: (await res.json()) as { workspaces: WorkspaceChoice[]; refresh_token?: string } };
  if (res.status === 200) return { type: "token", data: (await res.json()) as TokenAnswer };
  if (res.status === 400) {
    const err = (await res.json().catch(() => ({ error: "unknown" }))) as Record<string, string>;
    if (err.error === "authorization_pending") return { type: "pending" };
    if (err.error === "slow_down") return { type: "slow_down" };
    throw new SdkError(err.error_description ?? err.error ?? "Identity error (400)", err.error, 400);
  }
  throw new SdkError(`Identity error (${res.status})`, undefined, res.status);
}

export async function refreshToken(client: IdentityClient, params: { refreshToken: string; workspaceId?: string; scope?: string }) {
  const res = await identityPost(
    client,
    "/token",
    form({ grant_type: "refresh_token", refresh_token: params.refreshToken, workspace_id: params.workspaceId, scope: params.scope }),
  );
  if (!res.ok) {
    const err = (await res.json().catch(() => ({}))) as Record<string, string>;
    throw new SdkError(err.error_description ?? `Identity error (${res.status})`, err.error, res.status);
  }
  return (await res.json()) as TokenAnswer;
}

async function fetchWorkspaces(client: IdentityClient, accessToken: string): Promise<WorkspaceChoice[]> {
  for (const path of ["/self/profile", "/self"]) {
    const res = await client.fetch(`${client.baseUrl}${path}`, { headers: { Authorization: `Bearer ${accessToken}` } });
    if (res.ok) {
      const data = (await res.json()) as { workspaces?: WorkspaceChoice[] };
      return (data.workspaces ?? []).map((ws) => ({ workspace_id: ws.workspace_id, role: ws.role, name: ws.name }));
    }
    if (res.status !== 404) throw new SdkError(`Failed to fetch workspaces (${res.status})`, undefined, res.status);
  }
  return [];
}

function toAuthResult(token: TokenAnswer, workspaceIdOverride?: string): AuthResult {
  const claims = decodeJwt(token.access_token);
  const workspaceId = workspaceIdOverride ?? (claims.workspace_id as string | undefined) ?? "";
  if (!workspaceId) throw new SdkError("Token does not contain a workspace_id claim", "missing_workspace");
  return {
    accessToken: token.access_token,
    refreshToken: token.refresh_token ?? "",
    workspaceId,
    expiresAt: (claims.exp as number | undefined) ?? Math.floor(Date.now() / 1000) + token.expires_in,
    scope: token.scope,
  };
}

export type LoginOptions = {
  clientDescription?: string;
  scope?: string;
  workspaceId?: string;
  onCode: (issuance: DeviceCodeIssuance) => Promise<void>;
  onWorkspaceRequired?: (workspaces: WorkspaceChoice[]) => Promise<string>;
  /** The SDK sleeps `interval` seconds before each poll; tests that approve in onCode need not. */
  sleep?: (ms: number) => Promise<void>;
  statuses?: string[];
};

/** loginWithDeviceCode, as the SDK runs it. */
export async function loginWithDeviceCode(client: IdentityClient, options: LoginOptions): Promise<AuthResult> {
  const issuance = await requestDeviceCode(client, { clientDescription: options.clientDescription, scope: options.scope });
  await options.onCode(issuance);
  let interval = issuance.interval * 1000;
  const deadline = Date.now() + issuance.expires_in * 1000;
  const choose = options.onWorkspaceRequired ?? (async () => Promise.reject(new SdkError("no chooser", "choice_needed")));
  while (Date.now() < deadline) {
    await (options.sleep ?? (async () => undefined))(interval);
    let result: PollResult;
    try {
      result = await pollDeviceCode(client, issuance.device_code, options.scope, options.workspaceId);
    } catch (err) {
      if (err instanceof SdkError && err.errorCode === "expired_token") throw new SdkError("Device code expired", "device_code_expired");
      if (err instanceof SdkError && err.errorCode === "access_denied") throw new SdkError("Device code denied", "device_code_denied");
      throw err;
    }
    if (result.type === "pending") {
      options.statuses?.push("authorization_pending");
      continue;
    }
    if (result.type === "slow_down") {
      interval += 5000;
      options.statuses?.push("slow_down");
      continue;
    }
    if (result.type === "token") {
      const claims = decodeJwt(result.data.access_token);
      const isBootstrap = claims.workspace_bootstrap || !claims.workspace_id;
      if (isBootstrap && result.data.refresh_token) {
        if (options.workspaceId) {
          const scoped = await refreshToken(client, {
            refreshToken: result.data.refresh_token,
            workspaceId: options.workspaceId,
            scope: options.scope,
          });
          return toAuthResult(scoped, options.workspaceId);
        }
        const workspaces = await fetchWorkspaces(client, result.data.access_token);
        if (workspaces.length === 0) throw new SdkError("No workspace memberships found.", "no_workspaces");
        const workspaceId = workspaces.length === 1 ? (workspaces[0] as WorkspaceChoice).workspace_id : await choose(workspaces);
        const scoped = await refreshToken(client, { refreshToken: result.data.refresh_token, workspaceId, scope: options.scope });
        return toAuthResult(scoped, workspaceId);
      }
      return toAuthResult(result.data);
    }
    if (!result.data.refresh_token) throw new SdkError("Multi-workspace response missing refresh_token", "server_error");
    const workspaceId = await choose(result.data.workspaces);
    const scoped = await refreshToken(client, { refreshToken: result.data.refresh_token, workspaceId, scope: options.scope });
    return toAuthResult(scoped, workspaceId);
  }
  throw new SdkError("Device code expired", "device_code_expired");
}
