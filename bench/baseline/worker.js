// The benchmark's baseline: a framework-free Worker making exactly the storage calls the project makes
// for each measured route (same KV keys, same SQL shape, same D1 batches, the same audit store calls on the
// project's own Durable Objects), with no router, validation
// library, ORM, middleware or logging. What the project costs above this is the overhead `npm run bench`
// reports. It trusts its input as far as the benchmark sends it and is not an API: never deploy it.

// jose as the project uses it, loaded from node_modules (bench/scenarios.mjs lists its files as modules).
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, importJWK, jwtVerify } from "../../node_modules/jose/dist/webapi/index.js";

const BEARER = /^Bearer ([^\s]+)$/i;
const JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const SECRET = /^(pat|wsk)_([0-9A-Za-z]{30})([0-9A-Za-z]{6})$/;
const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

/** The same checksum test the project runs before any I/O. */
function validPrefix(token) {
  const match = SECRET.exec(token);
  if (!match) return null;
  let crc = 0xffffffff;
  const body = `${match[1]}_${match[2]}`;
  for (let i = 0; i < body.length; i++) crc = CRC_TABLE[(crc ^ body.charCodeAt(i)) & 0xff] ^ (crc >>> 8);
  let value = (crc ^ 0xffffffff) >>> 0;
  let sum = "";
  for (let i = 0; i < 6; i++) {
    sum = BASE62[value % 62] + sum;
    value = Math.floor(value / 62);
  }
  return sum === match[3] ? match[1] : null;
}

async function sha256Hex(value) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(value));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** The project's derived uuid: SHA-256 of the name, in a version 4 layout. */
async function derivedUuid(name) {
  const hex = (await sha256Hex(name)).slice(0, 32).split("");
  hex[12] = "4";
  hex[16] = "89ab"[Number.parseInt(hex[16], 16) % 4];
  const h = hex.join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Per isolate, as the project keeps them: each issuer's key set, found through its discovery document. */
const keySets = new Map();

function keySetOf(issuer) {
  if (!keySets.has(issuer)) {
    const jwksUri = fetch(`${issuer}/.well-known/openid-configuration`)
      .then((res) => res.json())
      .then((document) => createRemoteJWKSet(new URL(document.jwks_uri), { cooldownDuration: 60_000, cacheMaxAge: 300_000 }));
    keySets.set(issuer, jwksUri);
  }
  return keySets.get(issuer);
}

/** The same verification and identity read as the project's for a provider's token (the identity exists). */
async function providerPrincipal(env, token) {
  const issuer = decodeJwt(token).iss;
  const provider = JSON.parse(env.OIDC_PROVIDERS).find((candidate) => candidate.issuer === issuer);
  if (!provider) return null;
  const keys = await keySetOf(issuer);
  const { payload } = await jwtVerify(token, keys, {
    algorithms: ["RS256", "ES256", "EdDSA", "Ed25519"],
    issuer,
    audience: provider.audience,
    clockTolerance: 60,
    requiredClaims: ["exp", "sub"],
  }).catch(() => ({ payload: null }));
  if (payload === null) return null;
  const [identityId, credentialId] = await Promise.all([
    derivedUuid(`oidc-identity\n${issuer}\n${payload.sub}`),
    derivedUuid(`oidc-issuer\n${issuer}`),
  ]);
  // The record and its revocation marker in one bulk read, as the project reads them.
  const found = await env.KV.get([`identity:${identityId}`, `revoked-identity:${identityId}`], "json");
  const record = found.get(`identity:${identityId}`);
  if (!record || record.revoked_at !== null || found.get(`revoked-identity:${identityId}`)) return null;
  return {
    type: "identity",
    identity_id: identityId,
    credential_id: credentialId,
    email: payload.email,
    display_name: payload.name ?? null,
    scopes: provider.scopes ?? ["workspaces:read", "workspaces:write"],
    issuer,
    token_expires_at: new Date(payload.exp * 1000).toISOString(),
  };
}

/** Per isolate, as the project keeps them: the public keys of the deployment's own ring, by kid. */
let ownKeys;

/**
 * The same verification and identity read as the project's for one of its own access tokens: RS256 by a
 * key of the ring, its issuer and `at+jwt`, then the person's record and revocation markers in one bulk read.
 */
async function accessTokenPrincipal(env, token) {
  ownKeys ??= Promise.all(
    JSON.parse(env.IDENTITY_SIGNING_KEYS).map(async ({ kid, n, e }) => [kid, await importJWK({ kty: "RSA", n, e }, "RS256")]),
  ).then((pairs) => new Map(pairs));
  const key = (await ownKeys).get(decodeProtectedHeader(token).kid);
  if (!key) return null;
  const { payload } = await jwtVerify(token, key, {
    algorithms: ["RS256"],
    issuer: env.ACCESS_TOKEN_ISSUER,
    typ: "at+jwt",
    clockTolerance: 5,
    requiredClaims: ["exp", "iat", "sub", "jti"],
  }).catch(() => ({ payload: null }));
  if (payload === null) return null;
  const keys = [`identity:${payload.sub}`, `revoked-identity:${payload.sub}`, `revoked-before:${payload.sub}`];
  const found = await env.KV.get(keys, "json");
  const record = found.get(keys[0]);
  if (!record || record.revoked_at !== null || found.get(keys[1])) return null;
  // A person disabled since the token was signed (even if enabled again) is refused it.
  const since = found.get(keys[2]);
  const signed = typeof payload.iat_ms === "number" ? payload.iat_ms : payload.iat * 1000 + 999;
  if (since && (since.before === null || new Date(signed).toISOString() < since.before)) return null;
  const scopes = payload.scope.split(" ").filter((scope) => record.scopes.includes(scope));
  return {
    type: "identity",
    identity_id: record.identity_id,
    credential_id: payload.sid,
    email: record.email,
    display_name: record.display_name,
    scopes,
    issuer: env.ACCESS_TOKEN_ISSUER,
    token_expires_at: new Date(payload.exp * 1000).toISOString(),
    token_kind: "access_token",
    token_workspace_id: payload.workspace_id ?? null,
  };
}

const newRequestId = () => `req_${crypto.randomUUID().replaceAll("-", "")}`;

/** What every answer of the API carries: a request id, nosniff and no-store (a 401 adds its challenge). */
const json = (body, status = 200, headers = {}, requestId = newRequestId()) =>
  new Response(JSON.stringify(body), {
    status,
    headers: {
      "content-type": "application/json",
      "x-request-id": requestId,
      "x-content-type-options": "nosniff",
      "cache-control": "no-store",
      ...headers,
    },
  });
/** The project's one 401: its detail, and the request id in the body as in the header. */
const unauthorized = () => {
  const requestId = newRequestId();
  return json(
    { detail: "Missing or invalid bearer token.", error_code: "unauthorized", request_id: requestId },
    401,
    {
      "www-authenticate": 'Bearer realm="platform-api"',
    },
    requestId,
  );
};

/** The project's answers of GET /v1/me and GET /v1/auth/me: the principal's declared fields only. */
const identityAnswer = (principal) =>
  json({
    identity_id: principal.identity_id,
    email: principal.email,
    display_name: principal.display_name,
    scopes: principal.scopes,
    credential_id: principal.credential_id,
    token_expires_at: principal.token_expires_at ?? null,
    issuer: principal.issuer ?? null,
    token_kind: principal.token_kind ?? (principal.issuer ? "identity_provider" : "personal_access_token"),
    token_workspace_id: principal.token_workspace_id ?? null,
  });
const authInfoAnswer = (principal) =>
  json({
    workspace_id: principal.workspace_id,
    key_id: principal.key_id,
    name: principal.name,
    expires_at: principal.expires_at,
    expires_in_seconds: Math.max(0, Math.floor((Date.parse(principal.expires_at) - Date.now()) / 1000)),
  });

const WORKSPACE_COLUMNS = "id, slug, name, environment, backend_org_id, region, connector_type, provisioned_at, created_at, updated_at";
const API_KEY_COLUMNS =
  "seq, id, workspace_id, created_by_entity_id, created_by_credential_id, accountable_entity_id, key_id, name, role, permissions, " +
  "expires_at, last_used_at, created_at, updated_at";

function page(rows, limit, total) {
  const items = rows.slice(0, limit);
  const hasMore = rows.length > limit;
  return { items: items.map(({ seq, ...item }) => item), has_more: hasMore, continuation_token: hasMore ? items.at(-1).seq : null, total };
}

const recentlyTouched = new Map();

/** The project's audit store for a year of a workspace's trail (one Durable Object each, us-east-1's location). */
const auditStore = (env, workspaceId, year) =>
  env.AUDIT_STORE.get(env.AUDIT_STORE.idFromName(`${workspaceId}:${year}`), { locationHint: "enam" });

/** A signed download link, as the project signs one: HMAC-SHA256 of "<object key>\n<expires>", valid an hour. */
async function downloadUrl(env, objectKey) {
  const encoder = new TextEncoder();
  const expires = Math.floor(Date.now() / 1000) + 3600;
  const key = await crypto.subtle.importKey("raw", encoder.encode(env.AUDIT_EXPORT_SIGNING_KEY), { name: "HMAC", hash: "SHA-256" }, false, [
    "sign",
  ]);
  const signature = new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(`${objectKey}\n${expires}`)));
  const hex = [...signature].map((byte) => byte.toString(16).padStart(2, "0")).join("");
  return `${env.PUBLIC_URL}/downloads/${objectKey}?expires=${expires}&signature=${hex}`;
}

/** The origin line of a store's log, as the project names it: `<host of PUBLIC_URL>/audit/<workspace>/<year>`. */
const logOrigin = (env, workspaceId, year) => `${env.PUBLIC_URL ? new URL(env.PUBLIC_URL).host : "localhost"}/audit/${workspaceId}/${year}`;

/** A D1 outbox row as the store takes it (drizzle's shape). */
const storedRow = (row) => ({
  seq: row.seq,
  id: row.id,
  workspaceId: row.workspace_id,
  service: row.service,
  action: row.action,
  actorEntityId: row.actor_entity_id,
  actorCredentialId: row.actor_credential_id,
  resourceType: row.resource_type,
  resourceId: row.resource_id,
  resourceName: row.resource_name,
  metadata: row.metadata && JSON.parse(row.metadata),
  ipAddress: row.ip_address,
  userAgent: row.user_agent,
  phiAccessed: row.phi_accessed === 1,
  timestamp: row.timestamp,
});

/** The project's forward of a workspace's outbox rows to its stores: read a chunk, store it by year, delete it. */
async function forwardScope(env, db, workspaceId) {
  const { results } = await db.prepare("SELECT * FROM audit_events WHERE workspace_id = ? ORDER BY seq LIMIT 500").bind(workspaceId).all();
  if (results.length === 0) return;
  const years = [...new Set(results.map((row) => Number(row.timestamp.slice(0, 4))))];
  await Promise.all(
    years.map((year) =>
      auditStore(env, workspaceId, year).append(
        results.filter((row) => row.timestamp.startsWith(String(year))).map(storedRow),
        logOrigin(env, workspaceId, year),
      ),
    ),
  );
  await db.batch([
    ...years.map((year) => db.prepare("INSERT OR IGNORE INTO audit_store_years (scope, year) VALUES (?, ?)").bind(workspaceId, year)),
    db
      .prepare("DELETE FROM audit_events WHERE workspace_id = ? AND seq BETWEEN ? AND ?")
      .bind(workspaceId, results[0].seq, results.at(-1).seq),
  ]);
}

/** What the project does once a write has answered: forward the scopes with the newest outbox rows. */
async function forwardAfterWrite(env, db) {
  const { results } = await db.prepare("SELECT workspace_id FROM audit_events GROUP BY workspace_id ORDER BY max(seq) DESC LIMIT 3").all();
  for (const { workspace_id } of results) await forwardScope(env, db, workspace_id);
}

/** The project's read of a scope's stores: one D1 batch (outbox rows pending? the directory's years). */
async function yearsOf(db, scope) {
  const [pending, years] = await db.batch([
    db
      .prepare(`SELECT seq FROM audit_events WHERE workspace_id ${scope === "operator-log" ? "IS NULL" : "= ?"} LIMIT 1`)
      .bind(...(scope === "operator-log" ? [] : [scope])),
    db.prepare("SELECT year FROM audit_store_years WHERE scope = ? ORDER BY year").bind(scope),
  ]);
  if (pending.results.length > 0) throw new Error("the benchmark forwards every outbox row before it measures");
  return years.results.map(({ year }) => year);
}

/** The project's inclusion proof: every year's store asked for the event, the first that holds it answering. */
async function proofAnswer(env, db, scope, eventId) {
  const years = await yearsOf(db, scope);
  const proofs = await Promise.all(years.map((year) => auditStore(env, scope, year).proof(eventId, logOrigin(env, scope, year))));
  const proof = proofs.find((answer) => answer !== null);
  if (!proof) return json({ detail: "Audit event not found.", error_code: "not_found" }, 404);
  return json(proof, 200, { "x-d1-bookmark": `${env.REGION}:${db.getBookmark()}` });
}

/** The project's admin surface, as far as the benchmark loads it: the operator log's proof. */
async function adminFetch(request, env, url, blockedAddress) {
  const token = BEARER.exec(request.headers.get("authorization") ?? "")?.[1];
  const encoder = new TextEncoder();
  const [blocked, digests] = await Promise.all([
    blockedAddress(),
    Promise.all([token ?? "", env.ADMIN_TOKEN].map((value) => crypto.subtle.digest("SHA-256", encoder.encode(value)))),
  ]);
  if (token === undefined || !crypto.subtle.timingSafeEqual(...digests)) return unauthorized();
  if (blocked) return new Response("{}", { status: 429 });
  const proof = /^\/admin\/audit\/([^/]+)\/proof$/.exec(url.pathname);
  if (!proof) return json({ detail: "Not found.", error_code: "not_found" }, 404);
  return proofAnswer(env, env.DB.withSession("first-unconstrained"), "operator-log", proof[1]);
}

export default {
  async fetch(request, env, ctx) {
    const token = BEARER.exec(request.headers.get("authorization") ?? "")?.[1];
    // The project's blocked-address check (Cache API), beside the credential's verification.
    const address = request.headers.get("cf-connecting-ip");
    const blockedAddress = () =>
      address ? caches.default.match(`https://rate-limits.invalid/blocked-address/${encodeURIComponent(address)}`) : undefined;
    const url = new URL(request.url);
    if (url.pathname === "/.well-known/audit-keys") {
      // The region's verifier keys, one a line: no token, cacheable (the project derives its from the signing key).
      return new Response(`${env.AUDIT_VERIFIER_KEY}\n`, {
        headers: {
          "content-type": "text/plain; charset=UTF-8",
          "x-request-id": newRequestId(),
          "x-content-type-options": "nosniff",
          "cache-control": "public, max-age=300",
        },
      });
    }
    if (url.pathname.startsWith("/admin/")) return adminFetch(request, env, url, blockedAddress);
    if (token && JWT.test(token)) {
      const own = decodeJwt(token).iss === env.ACCESS_TOKEN_ISSUER;
      const verified = own ? accessTokenPrincipal(env, token) : providerPrincipal(env, token);
      const [blocked, principal] = await Promise.all([blockedAddress(), verified]);
      if (blocked) return new Response("{}", { status: 429 });
      return principal === null ? unauthorized() : identityAnswer(principal);
    }
    const prefix = token ? validPrefix(token) : null;
    if (!prefix) return unauthorized();
    const hash = await sha256Hex(token);
    const [blocked, record] = await Promise.all([blockedAddress(), env.KV.get(`${prefix}:${hash}`)]);
    if (blocked) return new Response("{}", { status: 429 });
    if (record === null) return unauthorized();
    const principal = JSON.parse(record);
    if (principal.type === "api_key") {
      if (Date.parse(principal.expires_at) <= Date.now()) return unauthorized();
      // The key's, its workspace's and its holder's revocation markers in one bulk read, then the key's row
      // with its workspace on the primary, as the project reads them on every route.
      const holder = principal.accountable_entity_id ?? principal.created_by_entity_id;
      const markers = await env.KV.get([
        `revoked-key:${principal.id}`,
        `archived-workspace:${principal.workspace_id}`,
        ...(holder ? [`revoked-before:${holder}`] : []),
      ]);
      if ([...markers.values()].some((value) => value !== null)) return unauthorized();
      const stored = await env.DB.prepare(
        `SELECT w.*, k.key_hash, k.revoked_at AS key_revoked_at FROM workspaces w
         LEFT JOIN api_keys k ON k.id = ? AND k.workspace_id = w.id WHERE w.id = ?`,
      )
        .bind(principal.id, principal.workspace_id)
        .first();
      if (!stored || stored.key_hash !== hash || stored.key_revoked_at || stored.archived_at) return unauthorized();
      // last_used_at at most once a minute per key, off the response path (as the project does)
      const now = Date.now();
      if (!(now - (recentlyTouched.get(principal.id) ?? 0) < 60_000)) {
        recentlyTouched.set(principal.id, now);
        ctx.waitUntil(
          env.DB.prepare("UPDATE api_keys SET last_used_at = ? WHERE id = ?").bind(new Date(now).toISOString(), principal.id).run(),
        );
      }
    }

    const limit = Number(url.searchParams.get("limit") ?? 10);
    const after = Number(url.searchParams.get("continuation_token") ?? 0);

    if (url.pathname === "/v1/me") return identityAnswer(principal);
    if (url.pathname === "/v1/auth/me") return authInfoAnswer(principal);
    // The project's D1 session: a write starts at the primary, a read anywhere; authorization reads the binding.
    const db = env.DB.withSession(request.method === "GET" ? "first-unconstrained" : "first-primary");
    // The project's read-your-writes bookmark, on every answer that ran on the session.
    const onSession = (body, status = 200) => json(body, status, { "x-d1-bookmark": `${env.REGION}:${db.getBookmark()}` });

    if (url.pathname === "/v1/me/workspaces" && request.method === "POST") {
      const body = await request.json();
      const now = new Date().toISOString();
      const id = crypto.randomUUID();
      // The project's slug reservation, before the batch, and its confirmation, after the KV write.
      const slot = env.SLUGS.get(env.SLUGS.idFromName(body.slug));
      if (!(await slot.reserve(id, env.REGION)).reserved)
        return json({ detail: "Workspace slug already taken.", error_code: "slug_taken" }, 409);
      const [inserted] = await db.batch([
        db
          .prepare(
            `INSERT INTO workspaces (id, slug, name, environment, backend_org_id, region, created_by_identity_id, created_at, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING ${WORKSPACE_COLUMNS}`,
          )
          .bind(id, body.slug, body.name, body.environment, body.backend_org_id ?? null, env.REGION, principal.identity_id, now, now),
        db
          .prepare("INSERT INTO memberships (workspace_id, identity_id, role, created_at) VALUES (?, ?, 'owner', ?)")
          .bind(id, principal.identity_id, now),
        db
          .prepare(
            `INSERT INTO audit_events (id, workspace_id, service, action, actor_entity_id, actor_credential_id, resource_type,
                                     resource_id, resource_name, metadata, ip_address, user_agent, phi_accessed, timestamp)
           VALUES (?, ?, 'platform', 'workspace.created', ?, ?, 'workspace', ?, ?, ?, ?, ?, 0, ?)`,
          )
          .bind(
            crypto.randomUUID(),
            id,
            principal.identity_id,
            principal.credential_id,
            id,
            body.name,
            JSON.stringify({ slug: body.slug, environment: body.environment, region: env.REGION }),
            request.headers.get("cf-connecting-ip"),
            request.headers.get("user-agent"),
            now,
          ),
      ]);
      await env.KV.put(`workspace-region:${id}`, JSON.stringify({ region: env.REGION }));
      await slot.confirm(id, env.REGION);
      ctx.waitUntil(forwardAfterWrite(env, db));
      return onSession(inserted.results[0], 201);
    }

    if (url.pathname === "/v1/workspaces") {
      const { results } = await db
        .prepare(
          `SELECT m.seq, ${WORKSPACE_COLUMNS.split(", ")
            .map((column) => `w.${column}`)
            .join(", ")}
         FROM memberships m JOIN workspaces w ON w.id = m.workspace_id
         WHERE m.identity_id = ? AND w.archived_at IS NULL ${after > 0 ? "AND m.seq < ?" : ""}
         ORDER BY m.seq DESC LIMIT ?`,
        )
        .bind(...[principal.identity_id, ...(after > 0 ? [after] : []), limit + 1])
        .all();
      return onSession(page(results, limit, null));
    }

    const updated = request.method === "PATCH" ? /^\/v1\/workspaces\/([^/]+)$/.exec(url.pathname) : null;
    if (updated) {
      // The project's update-workspace: the workspace with the caller's role (on the primary), then one
      // batch that changes the row and, only if it changed, records workspace.updated in the outbox.
      const [, workspaceId] = updated;
      const body = await request.json();
      const current = await env.DB.prepare(
        `SELECT w.*, m.role FROM workspaces w LEFT JOIN memberships m ON m.workspace_id = w.id AND m.identity_id = ? WHERE w.id = ?`,
      )
        .bind(principal.identity_id, workspaceId)
        .first();
      if (!current?.role) return json({ detail: "Workspace not found.", error_code: "not_found" }, 404);
      if (body.name === current.name) return onSession(Object.fromEntries(WORKSPACE_COLUMNS.split(", ").map((c) => [c, current[c]])));
      const now = new Date().toISOString();
      const [changed] = await db.batch([
        db
          .prepare(`UPDATE workspaces SET name = ?, updated_at = ? WHERE id = ? RETURNING ${WORKSPACE_COLUMNS}`)
          .bind(body.name, now, workspaceId),
        db
          .prepare(
            `INSERT INTO audit_events (id, workspace_id, service, action, actor_entity_id, actor_credential_id, resource_type,
                                     resource_id, resource_name, metadata, ip_address, user_agent, phi_accessed, timestamp)
             SELECT ?, ?, 'platform', 'workspace.updated', ?, ?, 'workspace', ?, ?, ?, ?, ?, 0, ? WHERE changes() > 0`,
          )
          .bind(
            crypto.randomUUID(),
            workspaceId,
            principal.identity_id,
            principal.credential_id,
            workspaceId,
            current.name,
            JSON.stringify({ changes: { name: { old: current.name, new: body.name } } }),
            request.headers.get("cf-connecting-ip"),
            request.headers.get("user-agent"),
            now,
          ),
      ]);
      ctx.waitUntil(forwardAfterWrite(env, db));
      return onSession(changed.results[0]);
    }

    const scoped = /^\/v1\/([^/]+)\/(api-keys|audit|audit\/[^/]+\/proof|audit\/checkpoints|audit\/consistency|audit\/exports\/[^/]+)$/.exec(
      url.pathname,
    );
    if (!scoped) return json({ detail: "Not found.", error_code: "not_found" }, 404);
    const [, workspaceId, collection] = scoped;
    const access = await env.DB.prepare(
      `SELECT w.archived_at, m.role FROM workspaces w
       LEFT JOIN memberships m ON m.workspace_id = w.id AND m.identity_id = ? WHERE w.id = ?`,
    )
      .bind(principal.identity_id, workspaceId)
      .first();
    if (!access?.role) return json({ detail: "Workspace not found.", error_code: "not_found" }, 404);

    if (collection.endsWith("/proof")) return proofAnswer(env, db, workspaceId, collection.slice("audit/".length, -"/proof".length));

    if (collection.startsWith("audit/exports/")) {
      // The project's get-audit-export: the unexpired row (finished in the last 7 days, or unfinished), a fresh link once done.
      const cutoff = new Date(Date.now() - 7 * 86_400_000).toISOString();
      const row = await db
        .prepare("SELECT * FROM audit_exports WHERE workspace_id = ? AND (finished_at IS NULL OR finished_at >= ?) AND id = ?")
        .bind(workspaceId, cutoff, collection.slice("audit/exports/".length))
        .first();
      if (!row) return json({ detail: "Audit export not found.", error_code: "not_found" }, 404);
      const done = row.status === "done";
      return onSession({
        key: row.object_key,
        size: row.size,
        last_modified: row.finished_at,
        download_url: done ? await downloadUrl(env, row.object_key) : null,
        export_id: row.id,
        status: row.status,
        row_count: row.row_count,
        events_written: row.events_written,
        progress: done ? 100 : Math.min(99, Math.floor((row.events_written * 100) / Math.max(1, row.row_count))),
        failure: row.failure,
        created_at: row.created_at,
      });
    }

    if (collection === "audit/checkpoints") {
      // The project's latest checkpoint of each year's log (signed now where the log grew), newest year first.
      const years = (await yearsOf(db, workspaceId)).reverse();
      const views = await Promise.all(
        years.map((year) => auditStore(env, workspaceId, year).checkpoint(logOrigin(env, workspaceId, year))),
      );
      const checkpoints = views.filter((view) => view !== null);
      const checkpointLimit = Number(url.searchParams.get("limit") ?? 50);
      const pageOf = checkpoints.slice(0, checkpointLimit);
      const hasMore = pageOf.length < checkpoints.length;
      return onSession({
        checkpoints: pageOf,
        total: checkpoints.length,
        limit: checkpointLimit,
        offset: 0,
        has_more: hasMore,
        next_offset: hasMore ? pageOf.length : null,
      });
    }

    if (collection === "audit/consistency") {
      // The project's consistency proof: the year's store, if the directory has it, from `from` to the latest checkpoint.
      const year = Number(url.searchParams.get("year"));
      if (!(await yearsOf(db, workspaceId)).includes(year)) return json({ detail: "No log.", error_code: "not_found" }, 404);
      const answer = await auditStore(env, workspaceId, year).consistency(
        Number(url.searchParams.get("from")),
        null,
        logOrigin(env, workspaceId, year),
      );
      return onSession(answer);
    }

    if (collection === "audit") {
      const auditLimit = Number(url.searchParams.get("limit") ?? 50);
      const offset = Number(url.searchParams.get("offset") ?? 0);
      const actor = url.searchParams.get("actor_entity_id");
      // The project's read: one D1 batch asks whether the outbox holds rows of the workspace (none once
      // forwarded) and reads its years from the directory, then one store call (the benchmark's trail is one year).
      const directory = db.prepare("SELECT year FROM audit_store_years WHERE scope = ? ORDER BY year").bind(workspaceId);
      let [pending, years] = await db.batch([
        db.prepare("SELECT seq FROM audit_events WHERE workspace_id = ? LIMIT 1").bind(workspaceId),
        directory,
      ]);
      if (pending.results.length > 0) {
        await forwardScope(env, db, workspaceId);
        years = await directory.all();
      }
      const filters = actor ? { actor_entity_id: actor } : {};
      const { rows, total } = await auditStore(env, workspaceId, years.results[0].year).list(filters, auditLimit, offset);
      const events = rows.map((row) => ({
        id: row.id,
        workspace_id: row.workspaceId,
        timestamp: row.timestamp,
        service: row.service,
        action: row.action,
        actor_entity_id: row.actorEntityId,
        actor_credential_id: row.actorCredentialId,
        resource_type: row.resourceType,
        resource_id: row.resourceId,
        resource_name: row.resourceName,
        metadata: row.metadata,
        ip_address: row.ipAddress,
        user_agent: row.userAgent,
        phi_accessed: row.phiAccessed,
      }));
      const hasMore = offset + events.length < total;
      return onSession({
        events,
        total,
        limit: auditLimit,
        offset,
        has_more: hasMore,
        next_offset: hasMore ? offset + events.length : null,
      });
    }

    const [rows, count] = await db.batch([
      db
        .prepare(
          `SELECT ${API_KEY_COLUMNS} FROM api_keys
         WHERE workspace_id = ? AND revoked_at IS NULL ${after > 0 ? "AND seq < ?" : ""} ORDER BY seq DESC LIMIT ?`,
        )
        .bind(...[workspaceId, ...(after > 0 ? [after] : []), limit + 1]),
      db.prepare("SELECT count(*) AS total FROM api_keys WHERE workspace_id = ? AND revoked_at IS NULL").bind(workspaceId),
    ]);
    const items = rows.results.map((row) => ({ ...row, permissions: JSON.parse(row.permissions) }));
    return onSession(page(items, limit, count.results[0].total));
  },
};
