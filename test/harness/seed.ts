/**
 * The people, workspaces, members and keys a test starts from: made through the API where that is what is
 * tested elsewhere, written straight to storage where only the result matters (seedApiKey, addMember).
 * Storage is shared by the tests of one file, so every helper makes fresh ones.
 */
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import { insertMembership } from "../../src/auth/memberships";
import type { MembershipRole } from "../../src/core/domain";
import type { ApiKeyPrincipal } from "../../src/core/principal";
import { SECRET_PREFIXES } from "../../src/core/token-format";
import { generateSecret, sha256Hex } from "../../src/security/secret";
import { dbFor } from "../../src/storage/d1/client";
import { kvKeys } from "../../src/storage/kv";
import type { CreatedApiKey, Identity, Invitation, Member, Workspace } from "./bodies";
import { type ApiResponse, type CallOptions, call } from "./call";

/** A request body as a test sends it: the operation's fields, and anything else a test means to refuse. */
type Fields = Record<string, unknown>;

let counter = 0;
/** Storage is shared by the tests of one file, so every test takes its own slugs. */
export function uniqueSlug(prefix = "ws"): string {
  counter += 1;
  return `${prefix}-${counter}-${crypto.randomUUID().slice(0, 8)}`;
}

export type MintedIdentity = Identity;

export async function mintIdentity(body: Fields = {}): Promise<MintedIdentity> {
  const res = await call<MintedIdentity>("POST", "/admin/identities", {
    token: env.ADMIN_TOKEN,
    body: { email: `user-${crypto.randomUUID().slice(0, 8)}@example.com`, ...body },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}

export function workspaceBody(overrides: Fields = {}) {
  return { slug: uniqueSlug(), name: "Test Workspace", environment: "staging", ...overrides };
}

/** create-my-workspace; the body is typed as the success's unless the test names another (an ErrorBody). */
export async function createWorkspace<Body = Workspace>(token: string, overrides: Fields = {}, options: CallOptions = {}) {
  return call<Body>("POST", "/v1/me/workspaces", { token, body: workspaceBody(overrides), ...options });
}

/**
 * Writes a workspace API key's principal record straight into KV, as the key-creation route will, so
 * authentication paths for api_key principals can be exercised. Returns the secret.
 */
export async function seedApiKey(overrides: Partial<ApiKeyPrincipal> = {}): Promise<{ secret: string; principal: ApiKeyPrincipal }> {
  const secret = generateSecret(SECRET_PREFIXES.api_key);
  const principal: ApiKeyPrincipal = {
    type: "api_key",
    id: crypto.randomUUID(),
    key_id: `key_${crypto.randomUUID().slice(0, 12)}`,
    workspace_id: crypto.randomUUID(),
    region: "us-east-1",
    role: "admin",
    permissions: [],
    name: "seeded key",
    expires_at: new Date(Date.now() + 86_400_000).toISOString(),
    created_by_entity_id: null,
    ...overrides,
  };
  await env.KV.put(kvKeys.principal(SECRET_PREFIXES.api_key, await sha256Hex(secret)), JSON.stringify(principal));
  return { secret, principal };
}

/** A fresh identity that owns a fresh workspace (its slug too: archive and convert confirm it). */
export async function ownedWorkspace(): Promise<{ owner: MintedIdentity; workspaceId: string; slug: string }> {
  const owner = await mintIdentity();
  const res = await createWorkspace(owner.token);
  expect(res.status, res.text).toBe(201);
  return { owner, workspaceId: res.body.id, slug: res.body.slug };
}

/**
 * Gives an identity a membership role by writing the row as accepting an invitation does, for the many
 * tests that need a member of some role and are not about invitations (test/members.test.ts goes through
 * the API).
 */
export async function addMember(
  workspaceId: string,
  identity: Pick<MintedIdentity, "identity_id" | "email">,
  role: MembershipRole,
): Promise<void> {
  const at = new Date().toISOString();
  await insertMembership(dbFor(env.DB), {
    workspaceId,
    identityId: identity.identity_id,
    role,
    at,
    email: identity.email,
    displayName: null,
    invitedBy: null,
  });
}

/** create-api-key (30 days unless the body says otherwise); typed as the success unless the test names another body. */
export async function createApiKey<Body = CreatedApiKey>(token: string, workspaceId: string, body: Fields = {}, options: CallOptions = {}) {
  return call<Body>("POST", `/v1/${workspaceId}/api-keys`, { token, body: { duration_days: 30, ...body }, ...options });
}

/** Creates a key through the API and returns its secret and key_id. */
export async function apiKeyWithRole(token: string, workspaceId: string, role: MembershipRole, body: Fields = {}) {
  const res = await createApiKey(token, workspaceId, { role, ...body });
  expect(res.status, res.text).toBe(201);
  return { secret: res.body.api_key, keyId: res.body.key_id, body: res.body };
}

/** create-invitation (role member unless the body says otherwise); typed as the success unless the test names another body. */
export async function invite<Body = Invitation>(token: string, workspaceId: string, body: Fields, options: CallOptions = {}) {
  return call<Body>("POST", `/v1/${workspaceId}/invitations`, { token, body: { role: "member", ...body }, ...options });
}

/** Answers an invitation as `token`'s identity: "accept" or "decline". */
export async function answerInvitation<Body = Member>(
  token: string,
  invitationId: string,
  answer: "accept" | "decline",
  options: CallOptions = {},
): Promise<ApiResponse<Body>> {
  return call<Body>("POST", `/v1/me/invitations/${invitationId}/${answer}`, { token, ...options });
}

/** A fresh identity that joined the workspace through the API: invited with `role` by `inviterToken`, then accepted. */
export async function joinedMember(inviterToken: string, workspaceId: string, role: MembershipRole): Promise<MintedIdentity> {
  const identity = await mintIdentity();
  const invitation = await invite(inviterToken, workspaceId, { email: identity.email, role });
  expect(invitation.status, invitation.text).toBe(201);
  const accepted = await answerInvitation(identity.token, invitation.body.id, "accept");
  expect(accepted.status, accepted.text).toBe(200);
  return identity;
}
