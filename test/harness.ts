/**
 * The one test harness: call the app inside workerd with real D1 and KV, mint identities, create
 * workspaces, inject storage faults, and check responses against the served OpenAPI document.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import Ajv2020 from "ajv/dist/2020";
import addFormats from "ajv-formats";
import { expect } from "vitest";
import { app } from "../src";
import { insertMembership } from "../src/auth/memberships";
import type { MembershipRole } from "../src/core/domain";
import type { ApiKeyPrincipal } from "../src/core/principal";
import { SECRET_PREFIXES } from "../src/core/token-format";
import type { CreateApiKeyResponse } from "../src/routes/api-keys/schemas";
import type { WorkspaceResponse } from "../src/routes/workspaces/schemas";
import { generateSecret, sha256Hex } from "../src/security/secret";
import { dbFor } from "../src/storage/d1/client";
import { kvKeys } from "../src/storage/kv";
import type { SlugRegistry } from "../src/storage/slug-registry";
import upstream from "./contract/upstream.json";

export type TestEnv = typeof env;
export type ApiResponse = { status: number; headers: Headers; body: any; text: string };
type CallOptions = {
  token?: string | null;
  body?: unknown;
  rawBody?: string;
  headers?: Record<string, string>;
  env?: Partial<TestEnv>;
  origin?: string;
};

export async function call(method: string, path: string, options: CallOptions = {}): Promise<ApiResponse> {
  const headers = new Headers(options.headers);
  if (options.token) headers.set("authorization", `Bearer ${options.token}`);
  let body: string | undefined = options.rawBody;
  if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    if (!headers.has("content-type")) headers.set("content-type", "application/json");
  }
  const ctx = createExecutionContext();
  const res = await app.fetch(
    new Request(`${options.origin ?? "http://localhost"}${path}`, { method, headers, body }),
    { ...env, ...options.env },
    ctx,
  );
  await waitOnExecutionContext(ctx);
  const text = await res.text();
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = text;
  }
  return { status: res.status, headers: res.headers, body: parsed, text };
}

let counter = 0;
/** Storage is shared by the tests of one file, so every test takes its own slugs. */
export function uniqueSlug(prefix = "ws"): string {
  counter += 1;
  return `${prefix}-${counter}-${crypto.randomUUID().slice(0, 8)}`;
}

export type MintedIdentity = { identity_id: string; email: string; scopes: string[]; token: string };

export async function mintIdentity(body: Record<string, unknown> = {}): Promise<MintedIdentity> {
  const res = await call("POST", "/admin/identities", {
    token: env.ADMIN_TOKEN,
    body: { email: `user-${crypto.randomUUID().slice(0, 8)}@example.com`, ...body },
  });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}

export function workspaceBody(overrides: Record<string, unknown> = {}) {
  return { slug: uniqueSlug(), name: "Test Workspace", environment: "staging", ...overrides };
}

export async function createWorkspace(token: string, overrides: Record<string, unknown> = {}, options: CallOptions = {}) {
  return call("POST", "/v1/me/workspaces", { token, body: workspaceBody(overrides), ...options });
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

// --- storage fault injection, spies and interleavings ----------------------------------------------

type KvMethod = "get" | "put" | "delete" | "list" | "getWithMetadata";
type Proceed = () => Promise<unknown>;

/**
 * The one KV proxy the helpers below are built on: every method call goes through `around`, which decides
 * whether (and when) the real call proceeds. `key` is the first argument (a key, or a list of keys).
 */
export function interceptKV(around: (method: string, key: unknown, proceed: Proceed) => Promise<unknown>): KVNamespace {
  return new Proxy(env.KV, {
    get(target, prop) {
      const value = Reflect.get(target, prop);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => around(String(prop), args[0], () => value.apply(target, args));
    },
  });
}

/**
 * A KV binding whose listed methods throw, as the runtime does when KV is unreachable; with `after`, only
 * once that many calls of those methods have succeeded.
 */
export function faultyKV(failing: KvMethod[], message = "KV PUT failed: 500 Internal Server Error", { after = 0 } = {}): KVNamespace {
  let succeeded = 0;
  return interceptKV(async (method, _key, proceed) => {
    if (!failing.includes(method as KvMethod)) return proceed();
    if (succeeded >= after) throw new Error(message);
    succeeded += 1;
    return proceed();
  });
}

/** A KV binding that counts every call by method. */
export function countingKV(): { kv: KVNamespace; calls: Record<string, number> } {
  const calls: Record<string, number> = {};
  const kv = interceptKV((method, _key, proceed) => {
    calls[method] = (calls[method] ?? 0) + 1;
    return proceed();
  });
  return { kv, calls };
}

/** Where a query ran: on the binding itself (the primary) or on a session of it (src/storage/regional-storage.ts). */
export type QueryRoute = "primary" | "session";

/**
 * The D1 counterpart of interceptKV: every statement (and every batch, its statements' SQL joined by ";")
 * goes through `around`, which may run something before or after the real execution, or fail instead of
 * it, and learns whether it runs on the primary or on a session. The statements stay real ones, so a batch
 * still runs as one transaction. `onSession` hears where each session starts.
 */
export function interceptD1(
  around: (sql: string, proceed: Proceed, route: QueryRoute) => Promise<unknown>,
  { onSession }: { onSession?: (start: string | undefined) => void } = {},
): D1Database {
  const sqlOf = new WeakMap<object, string>();
  const real = new WeakMap<object, D1PreparedStatement>();
  const wrap = (statement: D1PreparedStatement, sql: string, route: QueryRoute): D1PreparedStatement => {
    const proxy = new Proxy(statement, {
      get(target, prop) {
        const value = Reflect.get(target, prop);
        if (typeof value !== "function") return value;
        if (prop === "bind") return (...args: unknown[]) => wrap(value.apply(target, args), sql, route);
        return (...args: unknown[]) => around(sql, () => value.apply(target, args), route);
      },
    });
    sqlOf.set(proxy, sql);
    real.set(proxy, statement);
    return proxy;
  };
  const wrapDatabase = <Database extends D1Database | D1DatabaseSession>(database: Database, route: QueryRoute): Database =>
    new Proxy(database, {
      get(target, prop) {
        const value = Reflect.get(target, prop);
        if (typeof value !== "function") return value;
        if (prop === "prepare") return (sql: string) => wrap(value.call(target, sql), sql, route);
        if (prop === "batch") {
          return (statements: D1PreparedStatement[]) =>
            around(
              statements.map((s) => sqlOf.get(s) ?? "").join(";"),
              () =>
                value.call(
                  target,
                  statements.map((s) => real.get(s) ?? s),
                ),
              route,
            );
        }
        if (prop === "withSession") {
          return (start?: string) => {
            onSession?.(start);
            return wrapDatabase(value.call(target, start), "session");
          };
        }
        return value.bind(target);
      },
    });
  return wrapDatabase(env.DB, "primary");
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Bindings that pause a random 0..maxMs after every storage call, so concurrent requests interleave differently. */
export function jitteryStorage(maxMs = 4): { DB: D1Database; KV: KVNamespace } {
  const afterPause = async (_: unknown, proceed: Proceed) => {
    const result = await proceed();
    await sleep(Math.random() * maxMs);
    return result;
  };
  return { DB: interceptD1(afterPause), KV: interceptKV((_method, key, proceed) => afterPause(key, proceed)) };
}

/** A D1 binding on which every query and batch fails with the given D1 error message. */
export function faultyD1(message = "D1_ERROR: Network connection lost."): D1Database {
  const fail = async () => {
    throw new Error(message);
  };
  const statement: Record<string, unknown> = { run: fail, all: fail, raw: fail, first: fail };
  statement.bind = () => statement;
  const database: Record<string, unknown> = { prepare: () => statement, batch: fail, exec: fail, getBookmark: () => null };
  database.withSession = () => database;
  return database as unknown as D1Database;
}

type SlugMethod = "reserve" | "confirm" | "release";

/**
 * The SLUGS namespace (the real objects) with the listed methods failing as an unreachable Durable Object
 * does: its stubs throw.
 */
export function faultySlugs(failing: SlugMethod[], message = "Network connection lost."): TestEnv["SLUGS"] {
  const real = env.SLUGS as DurableObjectNamespace<SlugRegistry>;
  return new Proxy(real, {
    get(target, prop) {
      const value = Reflect.get(target, prop);
      if (prop !== "get") return typeof value === "function" ? value.bind(target) : value;
      return (id: DurableObjectId) => {
        const stub = target.get(id);
        return new Proxy(stub, {
          get(stubTarget, method) {
            if (failing.includes(method as SlugMethod)) return async () => Promise.reject(new Error(message));
            // A stub answers every property name with an RPC method: call through, never bind.
            return (...args: unknown[]) =>
              (stubTarget as unknown as Record<string | symbol, (...a: unknown[]) => unknown>)[method]!(...args);
          },
        });
      };
    },
  });
}

/** The registry object of a slug, to read or drive it directly. */
export const slugObject = (slug: string) => (env.SLUGS as DurableObjectNamespace<SlugRegistry>).get(env.SLUGS.idFromName(slug));

export async function countRows(table: "workspaces" | "memberships"): Promise<number> {
  const row = await env.DB.prepare(`select count(*) as n from ${table}`).first<{ n: number }>();
  return row?.n ?? 0;
}

/** How many of the workspace's API keys (revoked or not) carry this name. */
export async function keysNamed(workspaceId: string, name: string): Promise<number> {
  const row = await env.DB.prepare("select count(*) as n from api_keys where workspace_id = ? and name = ?")
    .bind(workspaceId, name)
    .first<{ n: number }>();
  return row?.n ?? 0;
}

export async function kvKeyCount(prefix: string): Promise<number> {
  return (await env.KV.list({ prefix })).keys.length;
}

// --- OpenAPI conformance ---------------------------------------------------------------------------

let documentPromise: Promise<any> | undefined;
const validators = new Map<string, (data: unknown) => boolean>();
const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);

export function openApiDocument(): Promise<any> {
  documentPromise ??= call("GET", "/doc").then((res) => res.body);
  return documentPromise;
}

/** Objects in response schemas get `additionalProperties: false`, so an undeclared field fails the check. */
function closeObjects(schema: any): any {
  if (Array.isArray(schema)) return schema.map(closeObjects);
  if (schema === null || typeof schema !== "object") return schema;
  const out: any = Object.fromEntries(Object.entries(schema).map(([k, v]) => [k, closeObjects(v)]));
  if (out.type === "object" && out.properties && out.additionalProperties === undefined) out.additionalProperties = false;
  return out;
}

type UpstreamDoc = { paths: Record<string, Record<string, any>>; components: { schemas: Record<string, any> } };
const upstreamDocs = Object.values(upstream as Record<string, UpstreamDoc>);

/**
 * Where upstream defines the operation and declares a JSON body for the status, the body must validate
 * against upstream's own schema too (as a validating proxy on upstream's document would check it): what a
 * client generated from upstream receives is what its types say. Objects stay open there, since this
 * service may add fields.
 */
function expectUpstreamConformant(method: string, pathTemplate: string, res: ApiResponse) {
  const doc = upstreamDocs.find((d) => d.paths[pathTemplate]?.[method.toLowerCase()]);
  const schema = doc?.paths[pathTemplate]?.[method.toLowerCase()]?.responses?.[String(res.status)]?.content?.["application/json"]?.schema;
  if (!doc || !schema) return;
  const key = `upstream ${method} ${pathTemplate} ${res.status}`;
  let validate = validators.get(key);
  if (!validate) {
    validate = ajv.compile({ ...schema, components: doc.components });
    validators.set(key, validate);
  }
  expect(
    validate(res.body),
    `${key}: the body does not match upstream's schema: ${ajv.errorsText((validate as any).errors)}\n${res.text}`,
  ).toBe(true);
}

/**
 * Asserts that the status is declared for the operation and the body validates against the declared
 * response schema (objects closed), and against upstream's schema where upstream has one, with the full
 * response in the failure message.
 */
export async function expectConformant(method: string, pathTemplate: string, res: ApiResponse): Promise<void> {
  expectUpstreamConformant(method, pathTemplate, res);
  const doc = await openApiDocument();
  const operation = doc.paths?.[pathTemplate]?.[method.toLowerCase()];
  expect(operation, `${method} ${pathTemplate} is not in /doc`).toBeDefined();
  const declared = operation.responses?.[String(res.status)];
  expect(declared, `status ${res.status} not declared for ${method} ${pathTemplate}: ${res.text}`).toBeDefined();
  const schema = declared.content?.["application/json"]?.schema;
  if (!schema) {
    expect(res.text, `${method} ${pathTemplate} ${res.status} declares no body`).toBe("");
    return;
  }
  const key = `${method} ${pathTemplate} ${res.status}`;
  let validate = validators.get(key);
  if (!validate) {
    validate = ajv.compile({ ...closeObjects(schema), components: closeObjects(doc.components) });
    validators.set(key, validate);
  }
  const ok = validate(res.body);
  expect(ok, `${key} body does not match its schema: ${ajv.errorsText((validate as any).errors)}\n${res.text}`).toBe(true);
}

// --- workspaces, members and API keys --------------------------------------------------------------

/** A fresh identity that owns a fresh workspace (its slug too: archive and convert confirm it). */
export async function ownedWorkspace(): Promise<{ owner: MintedIdentity; workspaceId: string; slug: string }> {
  const owner = await mintIdentity();
  const res = await createWorkspace(owner.token);
  expect(res.status, res.text).toBe(201);
  const workspace: WorkspaceResponse = res.body;
  return { owner, workspaceId: workspace.id, slug: workspace.slug };
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

export async function createApiKey(token: string, workspaceId: string, body: Record<string, unknown> = {}, options: CallOptions = {}) {
  return call("POST", `/v1/${workspaceId}/api-keys`, { token, body: { duration_days: 30, ...body }, ...options });
}

/** Creates a key through the API and returns its secret and key_id. */
export async function apiKeyWithRole(token: string, workspaceId: string, role: MembershipRole, body: Record<string, unknown> = {}) {
  const res = await createApiKey(token, workspaceId, { role, ...body });
  expect(res.status, res.text).toBe(201);
  const created: CreateApiKeyResponse = res.body;
  return { secret: created.api_key, keyId: created.key_id, body: created };
}

export async function invite(token: string, workspaceId: string, body: Record<string, unknown>, options: CallOptions = {}) {
  return call("POST", `/v1/${workspaceId}/invitations`, { token, body: { role: "member", ...body }, ...options });
}

/** Answers an invitation as `token`'s identity: "accept" or "decline". */
export async function answerInvitation(token: string, invitationId: string, answer: "accept" | "decline", options: CallOptions = {}) {
  return call("POST", `/v1/me/invitations/${invitationId}/${answer}`, { token, ...options });
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
