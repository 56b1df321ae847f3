import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { call, type ErrorBody, type ValidationErrorBody } from "../../harness/call";
import { expectConformant } from "../../harness/conformance";
import {
  apiKeyWithRole,
  createWorkspace,
  type MintedIdentity,
  mintIdentity,
  ownedWorkspace,
  uniqueSlug,
  workspaceBody,
} from "../../harness/seed";
import { countRows, faultyD1, faultyKV, kvKeyCount } from "../../harness/storage";

const PATH = "/v1/me/workspaces";
let owner: MintedIdentity;

beforeAll(async () => {
  owner = await mintIdentity();
});

describe("POST /v1/me/workspaces: success", () => {
  it("creates the workspace with every WorkspaceResponse field, explicit nulls and the deployment's region", async () => {
    const body = workspaceBody({ name: "  Acme Prod  ", environment: "production" });
    const res = await createWorkspace(owner.token, body);
    expect(res.status, res.text).toBe(201);
    expect(res.body).toEqual({
      id: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/),
      slug: body.slug,
      name: "Acme Prod",
      environment: "production",
      backend_org_id: null,
      region: env.REGION,
      connector_type: null,
      provisioned_at: null,
      created_at: expect.any(String),
      updated_at: expect.any(String),
    });
    // explicit nulls, not missing keys
    expect(Object.keys(res.body)).toEqual(expect.arrayContaining(["backend_org_id", "connector_type", "provisioned_at"]));
    expect(new Date(res.body.created_at).toISOString()).toBe(res.body.created_at);
    expect(res.body.updated_at).toBe(res.body.created_at);
    expect(res.headers.get("x-request-id")).toMatch(/^req_[0-9a-f]{32}$/);
    await expectConformant("POST", PATH, res);
  });

  it("answers with the workspace exactly as stored: a read of it gives the same body, and empty allowlists", async () => {
    const res = await createWorkspace(owner.token, { backend_org_id: "org-7" });
    expect(res.status).toBe(201);
    const stored = await call("GET", `/v1/workspaces/${res.body.id}`, { token: owner.token });
    expect(stored.body).toEqual(res.body);
    const numbers = await call("GET", `/v1/workspaces/${res.body.id}/test-caller-numbers`, { token: owner.token });
    expect(numbers.body).toEqual({ numbers: [] });
  });

  it("makes the caller the owner through a membership row", async () => {
    const res = await createWorkspace(owner.token);
    const rows = await env.DB.prepare("select identity_id, role from memberships where workspace_id = ?").bind(res.body.id).all();
    expect(rows.results).toEqual([{ identity_id: owner.identity_id, role: "owner" }]);
  });

  it("ignores a region in the body, and every other unknown field", async () => {
    const res = await createWorkspace(owner.token, { region: "eu-central-1", id: "not-yours", created_at: "1999-01-01T00:00:00Z" });
    expect(res.status).toBe(201);
    expect(res.body.region).toBe("us-east-1");
    expect(res.body.id).not.toBe("not-yours");
    expect(res.body.created_at).not.toBe("1999-01-01T00:00:00Z");
  });

  it("strips backend_org_id and accepts null for it", async () => {
    const stripped = await createWorkspace(owner.token, { backend_org_id: "  org-42 " });
    expect(stripped.body.backend_org_id).toBe("org-42");
    const nulled = await createWorkspace(owner.token, { backend_org_id: null });
    expect(nulled.status).toBe(201);
    expect(nulled.body.backend_org_id).toBeNull();
  });

  it.each(["production", "staging", "development"])("accepts environment %s", async (environment) => {
    const res = await createWorkspace(owner.token, { environment });
    expect(res.status).toBe(201);
    expect(res.body.environment).toBe(environment);
  });

  it("records the workspace's region in the global KV directory", async () => {
    const res = await createWorkspace(owner.token);
    expect(await env.KV.get(`workspace-region:${res.body.id}`, "json")).toEqual({ region: "us-east-1" });
  });
});

describe("POST /v1/me/workspaces: slug rules at their boundaries", () => {
  const unique = (n: number) => {
    const base = `${crypto.randomUUID().replaceAll("-", "")}${crypto.randomUUID().replaceAll("-", "")}`;
    return base.slice(0, n);
  };

  it.each([
    ["2 characters", () => unique(2)],
    ["63 characters", () => unique(63)],
    ["consecutive hyphens", () => `a--${unique(10)}`],
    ["digits only", () => `${Date.now()}${Math.floor(Math.random() * 1e6)}`],
  ])("accepts a slug of %s", async (_, slug) => {
    const res = await createWorkspace(owner.token, { slug: slug() });
    expect(res.status, res.text).toBe(201);
  });

  it.each([
    ["1 character", "a", "string_too_short"],
    ["64 characters", "a".repeat(64), "string_too_long"],
    ["a leading hyphen", "-abc", "string_pattern_mismatch"],
    ["a trailing hyphen", "abc-", "string_pattern_mismatch"],
    ["upper case", "Abc", "string_pattern_mismatch"],
    ["an underscore", "a_b", "string_pattern_mismatch"],
    ["a space", "a b", "string_pattern_mismatch"],
  ])("rejects a slug with %s (422 %s)", async (_, slug, type) => {
    const res = await createWorkspace<ValidationErrorBody>(owner.token, { slug });
    expect(res.status).toBe(422);
    expect(res.body.detail).toContainEqual(expect.objectContaining({ loc: ["body", "slug"], type, msg: expect.any(String) }));
    await expectConformant("POST", PATH, res);
  });

  it("words a pattern mismatch as FastAPI does", async () => {
    const res = await createWorkspace<ValidationErrorBody>(owner.token, { slug: "-abc" });
    expect(res.body.detail).toEqual([
      {
        loc: ["body", "slug"],
        type: "string_pattern_mismatch",
        msg: "String should match pattern '^[a-z0-9][a-z0-9-]*[a-z0-9]$'",
        ctx: { pattern: "^[a-z0-9][a-z0-9-]*[a-z0-9]$" },
        input: "-abc",
      },
    ]);
  });

  it("rejects a non-string slug", async () => {
    const res = await createWorkspace<ValidationErrorBody>(owner.token, { slug: 42 });
    expect(res.status).toBe(422);
    expect(res.body.detail[0]).toMatchObject({ loc: ["body", "slug"], type: "string_type", input: 42 });
  });
});

describe("POST /v1/me/workspaces: other validation", () => {
  it.each([
    ["name of whitespace only", { name: "   " }, ["body", "name"], "string_too_short"],
    ["empty name", { name: "" }, ["body", "name"], "string_too_short"],
    ["unknown environment", { environment: "prod" }, ["body", "environment"], "enum"],
    ["empty backend_org_id", { backend_org_id: " " }, ["body", "backend_org_id"], "string_too_short"],
  ])("rejects a %s", async (_, overrides, loc, type) => {
    const res = await createWorkspace<ValidationErrorBody>(owner.token, overrides);
    expect(res.status).toBe(422);
    expect(res.body.detail).toContainEqual(expect.objectContaining({ loc, type }));
    expect(res.body.error_code).toBe("validation_error");
    expect(res.body.request_id).toBe(res.headers.get("x-request-id"));
  });

  it("accepts a one-character name", async () => {
    expect((await createWorkspace(owner.token, { name: "x" })).status).toBe(201);
  });

  it("lists every missing required field with FastAPI's 'missing' type", async () => {
    const res = await call<ValidationErrorBody>("POST", PATH, { token: owner.token, body: {} });
    expect(res.status).toBe(422);
    const missing = res.body.detail.map((d) => [d.loc.join("."), d.type, d.msg]);
    expect(missing).toEqual(
      expect.arrayContaining([
        ["body.slug", "missing", "Field required"],
        ["body.name", "missing", "Field required"],
        ["body.environment", "missing", "Field required"],
      ]),
    );
    await expectConformant("POST", PATH, res);
  });

  it("answers a missing body with 422 at loc ['body']", async () => {
    const res = await call<ValidationErrorBody>("POST", PATH, { token: owner.token });
    expect(res.status).toBe(422);
    expect(res.body.detail).toEqual([{ loc: ["body"], msg: "Field required", type: "missing", input: null }]);
  });

  it("answers malformed JSON with 422 json_invalid", async () => {
    const res = await call<ValidationErrorBody>("POST", PATH, {
      token: owner.token,
      rawBody: '{"slug": ',
      headers: { "content-type": "application/json" },
    });
    expect(res.status).toBe(422);
    expect(res.body.detail[0]).toMatchObject({ loc: ["body", 9], type: "json_invalid", msg: "JSON decode error" });
    await expectConformant("POST", PATH, res);
  });

  it("answers a JSON array body with 422 at loc ['body']", async () => {
    const res = await call<ValidationErrorBody>("POST", PATH, { token: owner.token, body: [1, 2] });
    expect(res.status).toBe(422);
    expect(res.body.detail[0]).toMatchObject({ loc: ["body"], type: "model_attributes_type" });
  });

  it("answers a non-JSON content type with 415", async () => {
    const res = await call<ErrorBody>("POST", PATH, {
      token: owner.token,
      rawBody: "slug=abc",
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    expect(res.status).toBe(415);
    expect(res.body.error_code).toBe("unsupported_media_type");
    await expectConformant("POST", PATH, res);
  });

  it("answers a body over 64 KiB with 413 and writes nothing", async () => {
    const before = await countRows("workspaces");
    const res = await createWorkspace<ErrorBody>(owner.token, { name: "x".repeat(70 * 1024) });
    expect(res.status).toBe(413);
    expect(res.body.error_code).toBe("payload_too_large");
    expect(await countRows("workspaces")).toBe(before);
    await expectConformant("POST", PATH, res);
  });
});

describe("POST /v1/me/workspaces: conflicts and permissions", () => {
  it("answers 409 for a taken slug and keeps the first workspace", async () => {
    const slug = uniqueSlug();
    const first = await createWorkspace(owner.token, { slug, name: "First" });
    const other = await mintIdentity();
    const second = await createWorkspace(other.token, { slug, name: "Second" });
    expect(second.status).toBe(409);
    expect(second.body).toEqual({ detail: "Workspace slug already taken.", error_code: "slug_taken", request_id: expect.any(String) });
    await expectConformant("POST", PATH, second);
    const rows = await env.DB.prepare("select id, name from workspaces where slug = ?").bind(slug).all();
    expect(rows.results).toEqual([{ id: first.body.id, name: "First" }]);
    const members = await env.DB.prepare("select count(*) as n from memberships where identity_id = ?").bind(other.identity_id).first("n");
    expect(members).toBe(0);
  });

  it("gives exactly one 201 and nineteen 409 for 20 concurrent creates of one slug", async () => {
    const slug = uniqueSlug("race");
    const identities = await Promise.all(Array.from({ length: 4 }, () => mintIdentity()));
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => createWorkspace(identities[i % identities.length]!.token, { slug })),
    );
    const statuses = results.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    expect(statuses.filter((s) => s === 409)).toHaveLength(19);
    const workspaces = await env.DB.prepare("select id from workspaces where slug = ?").bind(slug).all<{ id: string }>();
    expect(workspaces.results).toHaveLength(1);
    const members = await env.DB.prepare("select count(*) as n from memberships where workspace_id = ?")
      .bind(workspaces.results[0]!.id)
      .first("n");
    expect(members).toBe(1);
  });

  it("gives 20 distinct workspaces for 20 concurrent creates of distinct slugs", async () => {
    const results = await Promise.all(Array.from({ length: 20 }, () => createWorkspace(owner.token)));
    expect(results.map((r) => r.status)).toEqual(Array(20).fill(201));
    expect(new Set(results.map((r) => r.body.id)).size).toBe(20);
  });

  it("answers 403 insufficient_scope for an identity without workspaces:write", async () => {
    const reader = await mintIdentity({ scopes: ["workspaces:read"] });
    const before = await countRows("workspaces");
    const res = await createWorkspace<ErrorBody>(reader.token);
    expect(res.status).toBe(403);
    expect(res.body.error_code).toBe("insufficient_scope");
    expect(res.body.detail).toBe("Missing the workspaces:write scope.");
    expect(await countRows("workspaces")).toBe(before);
    await expectConformant("POST", PATH, res);
  });

  it("answers 403 unsupported_principal_type for a workspace API key", async () => {
    const { owner, workspaceId } = await ownedWorkspace();
    const { secret } = await apiKeyWithRole(owner.token, workspaceId, "owner");
    const res = await createWorkspace<ErrorBody>(secret);
    expect(res.status).toBe(403);
    expect(res.body.error_code).toBe("unsupported_principal_type");
    expect(res.body.detail).toMatch(/unsupported principal type/i);
    await expectConformant("POST", PATH, res);
  });

  it("answers 401 without a token, before looking at the body", async () => {
    const res = await call("POST", PATH, { body: { nonsense: true } });
    expect(res.status).toBe(401);
    await expectConformant("POST", PATH, res);
  });
});

describe("POST /v1/me/workspaces: storage failures", () => {
  it("answers 503 with Retry-After and writes nothing when KV fails during authentication", async () => {
    const [ws, ms, dir] = [await countRows("workspaces"), await countRows("memberships"), await kvKeyCount("workspace-region:")];
    const res = await createWorkspace<ErrorBody>(
      owner.token,
      {},
      { env: { KV: faultyKV(["get", "put", "delete"], "KV GET failed: 503 Service Unavailable") } },
    );
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("1");
    expect(res.body.error_code).toBe("service_unavailable");
    expect(res.text).not.toMatch(/KV GET failed/);
    await expectConformant("POST", PATH, res);
    expect([await countRows("workspaces"), await countRows("memberships"), await kvKeyCount("workspace-region:")]).toEqual([ws, ms, dir]);
  });

  it("answers 503 and removes the committed rows when the KV directory write fails", async () => {
    const [ws, ms] = [await countRows("workspaces"), await countRows("memberships")];
    const slug = uniqueSlug();
    const res = await createWorkspace(owner.token, { slug }, { env: { KV: faultyKV(["put"]) } });
    expect(res.status).toBe(503);
    expect([await countRows("workspaces"), await countRows("memberships")]).toEqual([ws, ms]);
    // the slug is free again
    expect((await createWorkspace(owner.token, { slug })).status).toBe(201);
  });

  it("answers 503 and leaves no KV entry or partial row when D1 fails mid-request", async () => {
    const [ws, ms, dir] = [await countRows("workspaces"), await countRows("memberships"), await kvKeyCount("workspace-region:")];
    const res = await createWorkspace(owner.token, {}, { env: { DB: faultyD1() } });
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("1");
    expect(res.text).not.toMatch(/D1_ERROR|Network connection/);
    await expectConformant("POST", PATH, res);
    expect([await countRows("workspaces"), await countRows("memberships"), await kvKeyCount("workspace-region:")]).toEqual([ws, ms, dir]);
  });

  it("answers a non-retryable D1 error with a 500 that says nothing about SQL", async () => {
    const res = await createWorkspace(owner.token, {}, { env: { DB: faultyD1("D1_ERROR: no such table: workspaces: SQLITE_ERROR") } });
    expect(res.status).toBe(500);
    expect(res.body).toEqual({ detail: "Internal server error.", error_code: "internal_error", request_id: expect.any(String) });
    await expectConformant("POST", PATH, res);
  });

  it("rolls back the workspace when the membership insert of the same batch fails", async () => {
    const before = await countRows("workspaces");
    const slug = uniqueSlug();
    // Hide the memberships table so the batch's second statement fails: its first must roll back with it.
    await env.DB.exec("ALTER TABLE memberships RENAME TO memberships_hidden");
    try {
      const res = await createWorkspace(owner.token, { slug });
      expect(res.status).toBe(500);
    } finally {
      await env.DB.exec("ALTER TABLE memberships_hidden RENAME TO memberships");
    }
    expect(await countRows("workspaces")).toBe(before);
    expect(await env.DB.prepare("select count(*) as n from workspaces where slug = ?").bind(slug).first("n")).toBe(0);
  });
});
