/**
 * Read replicas through D1's Sessions API (src/storage/regional-storage.ts). There are no replicas
 * locally, so this checks the plumbing a replica would sit behind: where each request's session starts,
 * the bookmark in and out, and that authorization reads the primary whatever the client sends.
 */
import { describe, expect, it } from "vitest";
import type { ApiKeyPage, OpenApiDoc } from "../harness/bodies";
import { call, type ValidationErrorBody } from "../harness/call";
import { expectConformant } from "../harness/conformance";
import { createApiKey, ownedWorkspace } from "../harness/seed";
import { interceptD1 } from "../harness/storage";

const HEADER = "x-d1-bookmark";

/**
 * The D1 binding, recording where each session starts and which SQL ran on a session and which on the
 * binding itself (the primary), one entry per statement (a batch's statements each). The queries are the
 * real ones.
 */
function recordingDB() {
  const sessions: (string | undefined)[] = [];
  const onSession: string[] = [];
  const onPrimary: string[] = [];
  const DB = interceptD1(
    (sql, proceed, route) => {
      (route === "session" ? onSession : onPrimary).push(...sql.split(";"));
      return proceed();
    },
    { onSession: (start) => sessions.push(start) },
  );
  return { DB, sessions, onSession, onPrimary };
}

describe("the bookmark header", () => {
  it("comes back from a write as <region>:<bookmark>, and a read echoing it starts its session there", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const created = await createApiKey(owner.token, workspaceId, { name: "replica" });
    expect(created.status).toBe(201);
    const bookmark = created.headers.get(HEADER);
    expect(bookmark).toMatch(/^us-east-1:\S+$/);

    const db = recordingDB();
    const list = await call<ApiKeyPage>("GET", `/v1/${workspaceId}/api-keys`, {
      token: owner.token,
      headers: { [HEADER]: bookmark! },
      env: { DB: db.DB },
    });
    expect(list.status).toBe(200);
    expect(list.body.items.map((k) => k.name)).toContain("replica");
    expect(db.sessions).toEqual([bookmark!.slice("us-east-1:".length)]);
    expect(list.headers.get(HEADER)).toMatch(/^us-east-1:\S+$/);
    await expectConformant("GET", "/v1/{workspace_id}/api-keys", list);
  });

  it("starts a read without a bookmark anywhere (a replica may answer), and a write at the primary even with one", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const read = recordingDB();
    expect((await call("GET", `/v1/${workspaceId}/api-keys`, { token: owner.token, env: { DB: read.DB } })).status).toBe(200);
    expect(read.sessions).toEqual(["first-unconstrained"]);

    const write = recordingDB();
    const bookmark = "us-east-1:00000000-00000001-00000000-00000000000000000000000000000000";
    const created = await createApiKey(owner.token, workspaceId, {}, { headers: { [HEADER]: bookmark }, env: { DB: write.DB } });
    expect(created.status).toBe(201);
    // one session for the whole request: its reads see its own writes without any bookmark
    expect(write.sessions).toEqual(["first-primary"]);
    expect(write.onSession.some((sql) => /^insert into "api_keys"/.test(sql))).toBe(true);
  });

  it("ignores another region's bookmark: it names another database", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const db = recordingDB();
    const res = await call("GET", `/v1/${workspaceId}/api-keys`, {
      token: owner.token,
      headers: { [HEADER]: "eu-central-1:00000000-00000001-00000000-00000000000000000000000000000000" },
      env: { DB: db.DB },
    });
    expect(res.status).toBe(200);
    expect(db.sessions).toEqual(["first-unconstrained"]);
  });

  it.each([
    ["no region", "00000000-00000001-00000000-00000000000000000000000000000000"],
    ["an unknown region", "mars-north-1:00000000-00000001"],
    ["a space in the bookmark", "us-east-1:0000 0001"],
    ["an empty bookmark", "us-east-1:"],
    ["a bookmark too long", `us-east-1:${"0".repeat(201)}`],
  ])("refuses %s with 422 at loc [header, x-d1-bookmark], before any query", async (_case, value) => {
    const { owner, workspaceId } = await ownedWorkspace();
    const db = recordingDB();
    const res = await call<ValidationErrorBody>("GET", `/v1/${workspaceId}/api-keys`, {
      token: owner.token,
      headers: { [HEADER]: value },
      env: { DB: db.DB },
    });
    expect(res.status).toBe(422);
    expect(res.body.detail).toEqual([expect.objectContaining({ loc: ["header", HEADER], type: "value_error" })]);
    expect(db.sessions).toEqual([]);
    await expectConformant("GET", "/v1/{workspace_id}/api-keys", res);
  });
});

describe("authorization reads the primary", () => {
  it("for an API key and for an identity, whatever bookmark the read sends; the listing reads the session", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const key = await createApiKey(owner.token, workspaceId, { role: "admin" });
    const bookmark = key.headers.get(HEADER)!;
    for (const token of [key.body.api_key as string, owner.token]) {
      const db = recordingDB();
      const res = await call("GET", `/v1/${workspaceId}/api-keys`, { token, headers: { [HEADER]: bookmark }, env: { DB: db.DB } });
      expect(res.status).toBe(200);
      expect(db.onPrimary).toHaveLength(1);
      expect(db.onPrimary[0]).toMatch(/from "workspaces" left join "(api_keys|memberships)"/);
      expect(db.onSession.some((sql) => /from "api_keys"/.test(sql))).toBe(true);
    }
  });

  it("refuses a revoked key on a read that sends the bookmark of a response from before the revocation", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const key = await createApiKey(owner.token, workspaceId, { role: "viewer" });
    const before = key.headers.get(HEADER)!;
    const revoked = await call("DELETE", `/v1/${workspaceId}/api-keys/${key.body.key_id}`, { token: owner.token });
    expect(revoked.status).toBe(204);
    const res = await call("GET", `/v1/workspaces/${workspaceId}`, { token: key.body.api_key, headers: { [HEADER]: before } });
    expect(res.status).toBe(401);
  });
});

describe("/doc", () => {
  it("documents the header on every /v1 and /admin operation, with the guarantee of its kind", async () => {
    const doc = (await call<OpenApiDoc>("GET", "/doc")).body;
    for (const [path, operations] of Object.entries(doc.paths)) {
      for (const [method, operation] of Object.entries(operations)) {
        const onStorage = path.startsWith("/v1/") || path.startsWith("/admin/");
        const header = (operation.parameters ?? []).find((p) => p.in === "header" && p.name === HEADER);
        expect(Boolean(header), `${method} ${path}`).toBe(onStorage);
        if (!onStorage) continue;
        expect(header?.description, `${method} ${path}`).toMatch(method === "get" ? /replica/ : /primary/);
        const success = Object.entries(operation.responses).filter(([status]) => status.startsWith("2"));
        for (const [status, response] of success) expect(response.headers?.[HEADER], `${method} ${path} ${status}`).toBeDefined();
        expect(operation.responses["422"], `${method} ${path}`).toBeDefined();
      }
    }
  });
});
