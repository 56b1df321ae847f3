/**
 * Reading the trail: every upstream filter, limit/offset pagination, newest first, the summary, the
 * per-entity log, the PHI report, and the 422s of bad parameters; every body checked against /doc.
 */
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { auditEvent, insertEvent } from "../../../src/storage/audit-events/record";
import { dbFor } from "../../../src/storage/d1/client";
import type { ApiKeyPage, AuditEventPage } from "../../harness/bodies";
import { type ApiResponse, call, type ErrorBody, type ValidationErrorBody } from "../../harness/call";
import { expectConformant } from "../../harness/conformance";
import { apiKeyWithRole, type MintedIdentity, mintIdentity, ownedWorkspace } from "../../harness/seed";

type Event = AuditEventPage["events"][number];

let owner: MintedIdentity;
let workspaceId: string;
let all: Event[];
const people = [crypto.randomUUID(), crypto.randomUUID()];
const resources = [crypto.randomUUID(), crypto.randomUUID(), crypto.randomUUID()];
const ACTIONS = ["workspace.updated", "api_key.created", "api_key.rotated"] as const;

/** 30 events a minute apart from 2026-06-01, cycling through actions, people and resources. */
async function seed() {
  const db = dbFor(env.DB);
  for (let i = 0; i < 30; i++) {
    const at = new Date(Date.UTC(2026, 5, 1) + i * 60_000).toISOString();
    const actor = { entityId: people[i % 2] ?? null, credentialId: crypto.randomUUID(), ipAddress: null, userAgent: null };
    const action = ACTIONS[i % 3] ?? "workspace.updated";
    const resourceType = action === "workspace.updated" ? "workspace" : "api_key";
    await insertEvent(
      db,
      auditEvent(actor, { workspaceId, action, resourceType, resourceId: resources[i % 3] ?? null, resourceName: `r${i}` }, at),
    );
  }
}

async function list(query: string, token = owner.token) {
  const res = await call<AuditEventPage>("GET", `/v1/${workspaceId}/audit${query}`, { token });
  expect(res.status, res.text).toBe(200);
  await expectConformant("GET", "/v1/{workspace_id}/audit", res);
  return res.body;
}

/**
 * An offset auto-pager as SDKs write one: it knows nothing of `total` or `has_more`, asks for the next
 * page at `next_offset` and stops when that is null.
 */
async function* autoPaging(path: string, query: string) {
  let offset: number | null = 0;
  for (let pages = 0; offset !== null; pages++) {
    if (pages > 100) throw new Error("the pager did not stop");
    const res: ApiResponse<AuditEventPage> = await call("GET", `${path}?${query}&offset=${offset}`, { token: owner.token });
    expect(res.status, res.text).toBe(200);
    yield* res.body.events;
    offset = res.body.next_offset;
  }
}

beforeAll(async () => {
  ({ owner, workspaceId } = await ownedWorkspace());
  await seed();
  all = (await list("?limit=100")).events;
});

describe("list-audit-events", () => {
  it("lists every event of the workspace, newest first, and only this workspace's", async () => {
    expect(all).toHaveLength(31);
    const order = all.map((e) => `${e.timestamp}`);
    expect(order).toEqual([...order].sort().reverse());
    expect(all[0]?.action).toBe("workspace.created"); // made now, after the seeded June events
    const other = await ownedWorkspace();
    const theirs = await call<AuditEventPage>("GET", `/v1/${other.workspaceId}/audit`, { token: other.owner.token });
    expect(theirs.body.events.map((e) => e.action)).toEqual(["workspace.created"]);
  });

  const filters: [string, (e: Event) => boolean][] = [
    ["?action=api_key.rotated", (e) => e.action === "api_key.rotated"],
    [`?actor_entity_id=${people[0]}`, (e) => e.actor_entity_id === people[0]],
    [`?actor_entity_id=${people[1]?.toUpperCase()}`, (e) => e.actor_entity_id === people[1]],
    ["?resource_type=workspace", (e) => e.resource_type === "workspace"],
    [`?resource_id=${resources[2]}`, (e) => e.resource_id === resources[2]],
    ["?service=platform", () => true],
    ["?service=other", () => false],
    ["?phi_only=true", () => false],
    ["?phi_only=false", () => true],
    [
      "?date_from=2026-06-01T00:10:00Z&date_to=2026-06-01T00:19:00Z",
      (e) => e.timestamp >= "2026-06-01T00:10:00.000Z" && e.timestamp <= "2026-06-01T00:19:00.000Z",
    ],
    // the same instants written with an offset
    [
      "?date_from=2026-06-01T02:10:00%2B02:00&date_to=2026-06-01T02:19:00%2B02:00",
      (e) => e.timestamp >= "2026-06-01T00:10:00.000Z" && e.timestamp <= "2026-06-01T00:19:00.000Z",
    ],
    [
      `?action=api_key.created&actor_entity_id=${people[1]}&date_to=2026-06-01T00:20:00Z`,
      (e) => e.action === "api_key.created" && e.actor_entity_id === people[1] && e.timestamp <= "2026-06-01T00:20:00.000Z",
    ],
  ];

  it.each(filters)("filters %s", async (query, keep) => {
    const expected = all.filter(keep).map((e) => e.id);
    const page = await list(`${query}&limit=100`);
    expect(page.events.map((e) => e.id)).toEqual(expected);
    expect(page.total).toBe(expected.length);
    expect(page.has_more).toBe(false);
  });

  it("pages with limit and offset, has_more until the last page, total over all pages", async () => {
    const seen: string[] = [];
    for (let offset = 0; ; offset += 7) {
      const page = await list(`?limit=7&offset=${offset}`);
      expect(page).toMatchObject({ limit: 7, offset, total: 31 });
      seen.push(...page.events.map((e) => e.id));
      expect(page.has_more).toBe(offset + 7 < 31);
      expect(page.next_offset).toBe(page.has_more ? offset + 7 : null);
      if (!page.has_more) break;
    }
    expect(seen).toEqual(all.map((e) => e.id));
    const past = await list("?offset=500");
    expect(past).toMatchObject({ events: [], total: 31, has_more: false, next_offset: null });
    expect(await list("")).toMatchObject({ limit: 50, offset: 0 });
  });

  it("is followed to the end by an SDK-style auto-pager, on every offset-paged list", async () => {
    const ids = async (pages: AsyncGenerator<Event>) => {
      const out: string[] = [];
      for await (const event of pages) out.push(event.id);
      return out;
    };
    expect(await ids(autoPaging(`/v1/${workspaceId}/audit`, "limit=4"))).toEqual(all.map((e) => e.id));
    expect(await ids(autoPaging(`/v1/${workspaceId}/audit`, `limit=4&actor_entity_id=${people[0]}`))).toEqual(
      all.filter((e) => e.actor_entity_id === people[0]).map((e) => e.id),
    );
    expect(await ids(autoPaging(`/v1/${workspaceId}/audit/entity/${resources[1]}/access-log`, "limit=3"))).toEqual(
      all.filter((e) => e.resource_id === resources[1]).map((e) => e.id),
    );
    expect(await ids(autoPaging(`/v1/${workspaceId}/audit/phi-access`, "limit=3"))).toEqual([]);
    // a page size that divides the total: the last full page still says there is nothing after it
    expect(await ids(autoPaging(`/v1/${workspaceId}/audit`, "limit=31"))).toHaveLength(31);
  });

  it.each([
    ["limit=0", "limit", "greater_than_equal"],
    ["limit=101", "limit", "less_than_equal"],
    ["offset=-1", "offset", "greater_than_equal"],
    ["actor_entity_id=not-a-uuid", "actor_entity_id", "uuid_parsing"],
    ["resource_id=42", "resource_id", "uuid_parsing"],
    ["date_from=2026-06-01", "date_from", "value_error"],
    ["date_to=2026-06-01T00:00:00", "date_to", "value_error"],
    ["phi_only=maybe", "phi_only", "bool_parsing"],
    [`action=${"a".repeat(129)}`, "action", "string_too_long"],
    [`service=${"s".repeat(65)}`, "service", "string_too_long"],
  ])("refuses %s with a 422 naming the parameter", async (query, name, type) => {
    const res = await call<ValidationErrorBody>("GET", `/v1/${workspaceId}/audit?${query}`, { token: owner.token });
    expect(res.status).toBe(422);
    await expectConformant("GET", "/v1/{workspace_id}/audit", res);
    expect(res.body.detail[0]).toMatchObject({ loc: ["query", name], type });
  });
});

describe("summary, entity log and PHI report", () => {
  it("summarises the whole trail, or a date range", async () => {
    const res = await call("GET", `/v1/${workspaceId}/audit/summary`, { token: owner.token });
    expect(res.status).toBe(200);
    await expectConformant("GET", "/v1/{workspace_id}/audit/summary", res);
    expect(res.body).toEqual({ total_events: 31, phi_access_events: 0, unique_actors: 3, services_with_events: 1 });
    const june = await call("GET", `/v1/${workspaceId}/audit/summary?date_to=2026-06-01T00:05:00Z`, { token: owner.token });
    expect(june.body).toEqual({ total_events: 6, phi_access_events: 0, unique_actors: 2, services_with_events: 1 });
  });

  it("gives an entity's log (as resource or as actor), newest first, and 404 for an unknown entity", async () => {
    const path = (id: string, query = "") => `/v1/${workspaceId}/audit/entity/${id}/access-log${query}`;
    const res = await call<AuditEventPage>("GET", path(resources[1] ?? ""), { token: owner.token });
    expect(res.status).toBe(200);
    await expectConformant("GET", "/v1/{workspace_id}/audit/entity/{entity_id}/access-log", res);
    expect(res.body.events.map((e) => e.id)).toEqual(all.filter((e) => e.resource_id === resources[1]).map((e) => e.id));

    const byActor = await call<AuditEventPage>("GET", path(people[0] ?? "", "?limit=3&offset=3"), { token: owner.token });
    expect(byActor.body.events.map((e) => e.id)).toEqual(
      all
        .filter((e) => e.actor_entity_id === people[0])
        .slice(3, 6)
        .map((e) => e.id),
    );
    expect(byActor.body).toMatchObject({ total: 15, has_more: true });

    // A member with no events yet is known; a uuid nothing names is not.
    const key = await apiKeyWithRole(owner.token, workspaceId, "viewer");
    const keyRowId = (await call<ApiKeyPage>("GET", `/v1/${workspaceId}/api-keys`, { token: owner.token })).body.items.find(
      (k) => k.key_id === key.keyId,
    )?.id;
    expect((await call<AuditEventPage>("GET", path(keyRowId ?? ""), { token: owner.token })).body.total).toBe(1);
    expect((await call("GET", path(owner.identity_id), { token: owner.token })).status).toBe(200);
    const unknown = await call("GET", path(crypto.randomUUID()), { token: owner.token });
    expect(unknown.status).toBe(404);
    expect(unknown.body).toMatchObject({ error_code: "not_found", detail: "Entity not found." });
  });

  it("answers the PHI report with an empty, well-formed page (the control plane reads no PHI)", async () => {
    const res = await call("GET", `/v1/${workspaceId}/audit/phi-access?entity_id=${resources[0]}&limit=10`, { token: owner.token });
    expect(res.status).toBe(200);
    await expectConformant("GET", "/v1/{workspace_id}/audit/phi-access", res);
    expect(res.body).toEqual({ events: [], total: 0, limit: 10, offset: 0, has_more: false, next_offset: null });
  });
});

describe("who may read", () => {
  it("lets an API key read only if its own permission list holds Audit.view", async () => {
    const without = await apiKeyWithRole(owner.token, workspaceId, "admin", { permissions: ["Workspace.view", "ApiKey.view"] });
    const denied = await call<ErrorBody>("GET", `/v1/${workspaceId}/audit`, { token: without.secret });
    expect(denied.status).toBe(403);
    expect(denied.body.detail).toBe("Missing the Audit.view permission.");
    const withIt = await apiKeyWithRole(owner.token, workspaceId, "viewer", { permissions: ["Workspace.view"] });
    expect((await call("GET", `/v1/${workspaceId}/audit`, { token: withIt.secret })).status).toBe(403);
    const auditor = await apiKeyWithRole(owner.token, workspaceId, "admin", { permissions: ["Audit.view"] });
    expect((await call("GET", `/v1/${workspaceId}/audit`, { token: auditor.secret })).status).toBe(200);
  });

  it("needs workspaces:read of an identity token, and membership", async () => {
    const writeOnly = await mintIdentity({ scopes: ["workspaces:write"] });
    const res = await call("GET", `/v1/${workspaceId}/audit`, { token: writeOnly.token });
    expect(res.status).toBe(403);
  });
});
