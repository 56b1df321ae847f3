// The benchmark's data and requests. Seeds through the project's own API where that is quick (an owner,
// a workspace with 25 keys), and straight into D1 for the 100,000 memberships and the 100,000 audit events
// (INSERT ... SELECT statements, a second or two instead of 100,000 API calls each; the events go into the
// audit outbox, from which the first read forwards them to the workspace's store).

import { readdirSync } from "node:fs";
import { join } from "node:path";
import autocannon from "autocannon";
import { importJWK, SignJWT } from "jose";
import { startDevIssuer } from "../scripts/dev-issuer.mjs";
import { seedAuditEvents } from "../scripts/seed-audit-events.mjs";

const KEYS = 25;

const ROOT = join(import.meta.dirname, "..");
const JOSE = join(ROOT, "node_modules", "jose", "dist", "webapi");

/** The benchmark's identity provider: the local one of `npm run dev`, on a free port; both Workers trust it. */
export const startBenchIssuer = () => startDevIssuer(0);

/**
 * The framework-free Worker the project is compared with, as a companion for startArtifact(): its module,
 * and jose's (which it imports by path: Miniflare runs modules it is given, it does not bundle).
 */
export function baselineWorker(region, bindings = {}) {
  const scriptPath = join(import.meta.dirname, "baseline", "worker.js");
  const jose = readdirSync(JOSE, { recursive: true })
    .filter((file) => file.endsWith(".js"))
    .map((file) => ({ type: "ESModule", path: join(JOSE, file) }));
  return {
    name: "baseline",
    scriptPath,
    modules: [{ type: "ESModule", path: scriptPath }, ...jose],
    modulesRoot: ROOT,
    bindings: { REGION: region, ...bindings },
  };
}

/**
 * One of the project's own access tokens for the provider's person, signed with the ring the bench gave
 * it (as POST /token signs them), but for a day: a whole bench run outlasts the 15 minutes of a real one, and
 * the verification is the same.
 */
async function ownAccessToken({ keys, issuer }, identityId) {
  const [key] = JSON.parse(keys);
  return new SignJWT({ workspace_bootstrap: true, scope: "workspaces:read workspaces:write", sid: crypto.randomUUID() })
    .setProtectedHeader({ alg: "RS256", kid: key.kid, typ: "at+jwt" })
    .setIssuer(issuer)
    .setSubject(identityId)
    .setIssuedAt()
    .setExpirationTime("1d")
    .setJti(crypto.randomUUID())
    .sign(await importJWK(key, "RS256"));
}

async function post(base, path, token, body) {
  const res = await fetch(new URL(path, base), {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`seeding: POST ${path} answered ${res.status}: ${text}`);
  return JSON.parse(text);
}

/**
 * `count` workspaces the identity is a member of, and the continuation token that opens page 1,000 of
 * them at `page` items a page. `db` is the project's D1 binding (Miniflare's getD1Database).
 */
async function seedMemberships(db, identityId, region, count, page) {
  const now = new Date().toISOString();
  await db
    .prepare(
      `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1)
       INSERT INTO workspaces (id, slug, name, environment, region, created_by_identity_id, created_at, updated_at)
       SELECT printf('00000000-0000-4000-8000-%012d', i), printf('bench-member-%06d', i), printf('Workspace %d', i),
              'development', ?2, ?3, ?4, ?4
       FROM n`,
    )
    .bind(count, region, identityId, now)
    .run();
  await db
    .prepare(
      `INSERT INTO memberships (workspace_id, identity_id, role, created_at)
       SELECT id, created_by_identity_id, 'member', created_at FROM workspaces WHERE created_by_identity_id = ?1 ORDER BY seq`,
    )
    .bind(identityId)
    .run();
  // the seq of the last item of page 999
  return db
    .prepare("SELECT seq FROM memberships WHERE identity_id = ?1 ORDER BY seq DESC LIMIT 1 OFFSET ?2")
    .bind(identityId, page * 999 - 1)
    .first("seq");
}

/**
 * `count` events of `workspaceId` in its store of 2026, put there by the seeder (bench/seeder/worker.js,
 * at `seeder`) through the store's own `append`, and the year entered in D1's directory.
 */
async function seedStore(seeder, db, workspaceId, count) {
  const origin = `${LOG_HOST}/audit/${workspaceId}/2026`;
  const mark = Math.floor(count / 2);
  let middle = null;
  for (let first = 0; first < count; first += SEED_SLICE) {
    const slice = Math.min(SEED_SLICE, count - first);
    const res = await fetch(seeder, { method: "POST", body: JSON.stringify({ workspaceId, first, count: slice, origin, mark }) });
    const { stored, marked } = await res.json();
    if (stored !== slice) throw new Error(`seeding: the store of ${workspaceId} took ${stored} of ${slice} events`);
    middle ??= marked;
  }
  await db.prepare("INSERT OR IGNORE INTO audit_store_years (scope, year) VALUES (?1, 2026)").bind(workspaceId).run();
  return middle;
}

/** A done export's row of `workspaceId`, finished now (its object is not needed to read the row); returns its id. */
async function seedExportRow(db, workspaceId) {
  const id = crypto.randomUUID();
  const now = new Date().toISOString();
  await db
    .prepare(
      `INSERT INTO audit_exports (id, workspace_id, object_key, row_count, size, created_at, status, events_written, finished_at)
       VALUES (?1, ?2, 'audit-exports/' || ?2 || '/' || ?1 || '.ndjson', 10, 1000, ?3, 'done', 10, ?3)`,
    )
    .bind(id, workspaceId, now)
    .run();
  return id;
}

/** Events per seeder request: a slice each well within a request's time. */
const SEED_SLICE = 100_000;

/** The host of the bench environment's PUBLIC_URL (wrangler.toml, us-east-1): what the project names its logs by. */
const LOG_HOST = "us-east-1.platform-api.invalid";

/** The seeder as a companion for startArtifact(): it reaches the project's audit stores. */
export const seederWorker = () => ({ name: "seeder", scriptPath: join(import.meta.dirname, "seeder", "worker.js") });

let slugs = 0;
let names = 0;

/** 1000 -> "1k", 1000000 -> "1M". */
const sizeName = (n) => (n >= 1_000_000 ? `${n / 1_000_000}M` : n >= 1000 ? `${n / 1000}k` : String(n));

/**
 * Seeds and returns the scenarios (`issuer`: startBenchIssuer()'s): each a request (method, path, token, optional body maker) and the
 * answer it must get (status, and for lists the number of items), checked before any load is run. The
 * benchmark lists pages of 100 out of 100,000 memberships; page 1,000 is then the last one.
 */
export async function seedScenarios({
  base,
  seeder,
  db,
  adminToken,
  region,
  issuer,
  access,
  memberships = 100_000,
  page = 100,
  events = 100_000,
  storeSizes = [1000, 1_000_000],
}) {
  const owner = await post(base, "/admin/identities", adminToken, { email: "bench-owner@example.com" });
  // A provider's person, created by their first token (the project does that; the baseline only finds them).
  const providerToken = (await (await fetch(`${issuer.origin}/token?email=bench-provider@example.com`)).text()).trim();
  const signedIn = await fetch(new URL("/v1/me", base), { headers: { authorization: `Bearer ${providerToken}` } });
  if (!signedIn.ok) throw new Error(`seeding: the provider's first token answered ${signedIn.status}: ${await signedIn.text()}`);
  const accessToken = await ownAccessToken(access, (await signedIn.json()).identity_id);
  const workspace = await post(base, "/v1/me/workspaces", owner.token, { slug: "bench-keys", name: "Bench", environment: "development" });
  let key;
  for (let i = 0; i < KEYS; i++) {
    key = await post(base, `/v1/${workspace.id}/api-keys`, owner.token, { duration_days: 30, role: "viewer", name: `bench key ${i}` });
  }
  const member = await post(base, "/admin/identities", adminToken, { email: "bench-member@example.com" });
  const cursor = await seedMemberships(db, member.identity_id, region, memberships, page);
  const of = `${memberships / 1000}k`;
  // A second workspace's trail: `events` events (half by each of two people) besides its own creation.
  const audited = await post(base, "/v1/me/workspaces", owner.token, {
    slug: "bench-audit",
    name: "Bench audit",
    environment: "development",
  });
  const actors = [crypto.randomUUID(), crypto.randomUUID()];
  await seedAuditEvents(db, { workspaceId: audited.id, count: events, from: "2026-01-01T00:00:00.000Z", actors });
  const trail = `/v1/${audited.id}/audit?limit=${page}`;
  // The first read of the trail forwards the seeded events from the D1 outbox to the workspace's store, as
  // the sweep would: every measured read then finds the outbox empty, as in steady state.
  const forwarded = await fetch(new URL(`${trail}&offset=0`, base), { headers: { authorization: `Bearer ${owner.token}` } });
  if (!forwarded.ok) throw new Error(`seeding: forwarding the trail answered ${forwarded.status}: ${await forwarded.text()}`);
  const eventsOf = `${events / 1000}k`;
  const exportId = await seedExportRow(db, audited.id);
  // Workspaces whose stores hold 1k and 1M events: page 1 (with its total) must not grow with the trail.
  const storeScenarios = [];
  const proofScenarios = [];
  for (const size of storeSizes) {
    const sized = await post(base, "/v1/me/workspaces", owner.token, {
      slug: `bench-store-${size}`,
      name: "Bench",
      environment: "development",
    });
    const middle = await seedStore(seeder, db, sized.id, size);
    // The proof of the store's middle event: its path is as long as any (log2 of the size), read from tiles.
    proofScenarios.push(
      {
        name: `get-audit-event-proof, the middle event of a ${sizeName(size)}-event store`,
        method: "GET",
        path: `/v1/${sized.id}/audit/${middle}/proof`,
        token: owner.token,
        status: 200,
        bookmark: true,
      },
      {
        name: `list-audit-checkpoints of a ${sizeName(size)}-event store`,
        method: "GET",
        path: `/v1/${sized.id}/audit/checkpoints`,
        token: owner.token,
        status: 200,
        bookmark: true,
      },
      {
        // from half the store to its latest checkpoint: a proof as long as any
        name: `get-audit-consistency-proof, half of a ${sizeName(size)}-event store to all of it`,
        method: "GET",
        path: `/v1/${sized.id}/audit/consistency?year=2026&from=${Math.ceil(size / 2) + 1}`,
        token: owner.token,
        status: 200,
        bookmark: true,
      },
    );
    storeScenarios.push({
      name: `list-audit-events, page 1 of a ${sizeName(size)}-event store`,
      method: "GET",
      path: `/v1/${sized.id}/audit?limit=${page}`,
      token: owner.token,
      status: 200,
      items: Math.min(page, size + 1),
      bookmark: true,
    });
  }

  // The operator log's newest event (an identity created above), forwarded to its store by this first read.
  const operatorLog = await fetch(new URL("/admin/audit?limit=1", base), { headers: { authorization: `Bearer ${adminToken}` } });
  if (!operatorLog.ok) throw new Error(`seeding: reading the operator log answered ${operatorLog.status}: ${await operatorLog.text()}`);
  const operatorEvent = (await operatorLog.json()).events[0].id;

  return [
    {
      name: "create-my-workspace",
      method: "POST",
      path: "/v1/me/workspaces",
      token: owner.token,
      body: () => ({ slug: `bench-${process.pid}-${++slugs}`, name: "Bench workspace", environment: "development" }),
      // each answer is a new workspace
      varies: ["id", "slug", "created_at", "updated_at"],
      status: 201,
      bookmark: true,
    },
    {
      // an audited write to a store that exists (most are): the workspace's event appended to its year's log
      name: "update-workspace",
      method: "PATCH",
      path: `/v1/workspaces/${workspace.id}`,
      token: owner.token,
      body: () => ({ name: `Bench ${process.pid}-${++names}` }),
      varies: ["name", "updated_at"],
      status: 200,
      bookmark: true,
    },
    { name: "GET /v1/me, identity token", method: "GET", path: "/v1/me", token: owner.token, status: 200 },
    { name: "GET /v1/me, provider token", method: "GET", path: "/v1/me", token: providerToken, status: 200 },
    { name: "GET /v1/me, own access token", method: "GET", path: "/v1/me", token: accessToken, status: 200 },
    { name: "GET /v1/auth/me, API key", method: "GET", path: "/v1/auth/me", token: key.api_key, status: 200 },
    {
      name: "list-api-keys, one page (10 of 25)",
      method: "GET",
      path: `/v1/${workspace.id}/api-keys`,
      token: owner.token,
      status: 200,
      items: 10,
      bookmark: true,
    },
    {
      name: `list-workspaces, page 1 of ${of}`,
      method: "GET",
      path: `/v1/workspaces?limit=${page}`,
      token: member.token,
      status: 200,
      items: page,
      bookmark: true,
    },
    {
      name: `list-workspaces, page 1,000 of ${of}`,
      method: "GET",
      path: `/v1/workspaces?limit=${page}&continuation_token=${cursor}`,
      token: member.token,
      status: 200,
      items: page,
      bookmark: true,
    },
    {
      name: `list-audit-events, page 1 of ${eventsOf}`,
      method: "GET",
      path: trail,
      token: owner.token,
      status: 200,
      items: page,
      bookmark: true,
    },
    {
      name: `list-audit-events, offset ${(events / 2).toLocaleString("en")} of ${eventsOf}`,
      method: "GET",
      path: `${trail}&offset=${events / 2}`,
      token: owner.token,
      status: 200,
      items: page,
      bookmark: true,
    },
    {
      name: `list-audit-events by actor, offset ${(events / 4).toLocaleString("en")} of ${events / 2000}k`,
      method: "GET",
      path: `${trail}&actor_entity_id=${actors[0]}&offset=${events / 4}`,
      token: owner.token,
      status: 200,
      items: page,
      bookmark: true,
    },
    ...storeScenarios,
    ...proofScenarios,
    {
      // an export's row, with a freshly signed link (whose expiry and signature differ from one second to the next)
      name: "get-audit-export",
      method: "GET",
      path: `/v1/${audited.id}/audit/exports/${exportId}`,
      token: owner.token,
      status: 200,
      bookmark: true,
      varies: ["download_url"],
    },
    {
      name: "admin-get-audit-event-proof, the operator log's newest event",
      method: "GET",
      path: `/admin/audit/${operatorEvent}/proof`,
      token: adminToken,
      status: 200,
      bookmark: true,
    },
    { name: "get-audit-keys (no token)", method: "GET", path: "/.well-known/audit-keys", token: null, status: 200 },
    { name: "malformed token (401)", method: "GET", path: "/v1/auth/me", token: "not-a-valid-token", status: 401 },
  ];
}

/** The request as fetch() and autocannon send it (a fresh body each time). */
function requestOf(scenario) {
  // a scenario with no token sends no authorization header (a route that needs none)
  const headers = scenario.token === null ? {} : { authorization: `Bearer ${scenario.token}` };
  if (!scenario.body) return { method: scenario.method, path: scenario.path, headers };
  return {
    method: scenario.method,
    path: scenario.path,
    headers: { ...headers, "content-type": "application/json" },
    body: JSON.stringify(scenario.body()),
  };
}

/**
 * autocannon's result of loading `base` with the scenario; throws if any answer was not the scenario's
 * status. With `amount`, the run ends once that many requests are answered, and its `duration` is from
 * the start to the last answer: autocannon's own waits for its next sample (every tenth of a second here),
 * which would put up to 0.1 s of idling into a half-second slice. Else it stops within a tenth of a second
 * of `duration` (autocannon looks once per sample, every second unless told), so runs of a fraction of a
 * second are that long. `unaggregated`: autocannon's raw result (histograms encoded), for
 * autocannon.aggregateResult().
 */
export async function loadScenario(base, scenario, { duration, amount, connections, unaggregated = false }) {
  const started = performance.now();
  let lastAnswer = started;
  const result = await new Promise((resolve, reject) => {
    const run = autocannon(
      {
        url: base,
        connections,
        // autocannon refuses an undefined duration
        ...(amount === undefined ? { duration } : { amount }),
        sampleInt: 100,
        skipAggregateResult: unaggregated,
        requests: [{ ...requestOf(scenario), setupRequest: (request) => ({ ...request, ...requestOf(scenario) }) }],
      },
      (err, finished) => (err ? reject(err) : resolve(finished)),
    );
    if (amount !== undefined) run.on("response", () => (lastAnswer = performance.now()));
  });
  if (amount !== undefined) result.duration = (lastAnswer - started) / 1000;
  const wrong = Object.entries(result.statusCodeStats).filter(([status]) => Number(status) !== scenario.status);
  if (result.errors > 0 || result.timeouts > 0 || wrong.length > 0) {
    throw new Error(
      `${scenario.name} at ${base}: ${result.errors} errors, ${result.timeouts} timeouts, statuses ` +
        `${JSON.stringify(result.statusCodeStats)}`,
    );
  }
  return result;
}

/** What one request of the scenario gets from `base`: its status, and for a list its number of items. */
export async function answerOf(base, scenario) {
  const { path, ...init } = requestOf(scenario);
  const res = await fetch(new URL(path, base), init);
  const body = res.headers.get("content-type")?.startsWith("application/json") ? await res.json() : await res.text();
  const headers = CONTRACT_HEADERS.filter((name) => res.headers.has(name));
  return {
    status: res.status,
    items: scenario.items === undefined ? undefined : (body.items ?? body.events)?.length,
    headers,
    body: comparable(body, [...VOLATILE_FIELDS, ...(scenario.varies ?? [])]),
  };
}

/** Fields whose values differ between any two answers (a request's id, a countdown in seconds). */
const VOLATILE_FIELDS = ["request_id", "expires_in_seconds"];

/**
 * A body as two Workers' answers are compared: the same fields and values, but for `volatile` fields (at
 * any depth), compared by their type only.
 */
function comparable(value, volatile) {
  if (Array.isArray(value)) return value.map((item) => comparable(item, volatile));
  if (value === null || typeof value !== "object") return value;
  return Object.fromEntries(
    Object.entries(value).map(([field, inner]) => [field, volatile.includes(field) ? typeof inner : comparable(inner, volatile)]),
  );
}

/**
 * The headers the API promises on every answer, a 401's challenge and the read-your-writes bookmark of an
 * answer that ran on a D1 session (a scenario's `bookmark`): both Workers send them.
 */
const CONTRACT_HEADERS = ["cache-control", "x-content-type-options", "x-request-id", "www-authenticate", "x-d1-bookmark"];

/**
 * What the scenario must get, but for its body (which the two Workers' answers must share: `answerOf`):
 * anything else means the benchmark would measure the wrong thing.
 */
export const expectedAnswer = (scenario) => ({
  status: scenario.status,
  items: scenario.items,
  headers: CONTRACT_HEADERS.filter(
    (name) => (name !== "www-authenticate" || scenario.status === 401) && (name !== "x-d1-bookmark" || scenario.bookmark),
  ),
});
