/**
 * Spec-driven fuzzing: random JSON bodies (some near-valid, most junk), random raw text and random query
 * strings against every route that takes input. Properties: never a 5xx, every status is declared for the
 * operation, every body validates against the declared schema.
 */

import { env } from "cloudflare:workers";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { MAX_HEADER_BYTES, MAX_URL_LENGTH } from "../src/core/limits";
import { IdempotencyKeySchema } from "../src/http/idempotency";
import { MAX_ECHOED_INPUT } from "../src/http/validation";
import { call, type ErrorBody, type ValidationErrorBody } from "./harness/call";
import { expectConformant } from "./harness/conformance";
import { apiKeyWithRole, type MintedIdentity, ownedWorkspace } from "./harness/seed";

const RUNS = 60;
let owner: MintedIdentity;
let workspaceId: string;
let keyId: string;

beforeAll(async () => {
  ({ owner, workspaceId } = await ownedWorkspace());
  ({ keyId } = await apiKeyWithRole(owner.token, workspaceId, "viewer"));
});

/** A value for a known field: usually junk, sometimes plausible. */
const fieldValue = fc.oneof(
  fc.jsonValue(),
  fc.string(),
  fc.integer({ min: -5, max: 200 }),
  fc.constantFrom("production", "staging", "development", "owner", "admin", "member", "viewer", "epic", "+14155550100", "ApiKey.view"),
  fc.array(fc.string(), { maxLength: 5 }),
);
const bodyFor = (fields: string[]) =>
  fc.oneof(fc.jsonValue(), fc.dictionary(fc.constantFrom(...fields, "region", "id", "extra"), fieldValue, { maxKeys: fields.length + 2 }));

type Target = { method: string; template: string; path: () => string; token: () => string; fields: string[] };
const targets: Target[] = [
  {
    method: "POST",
    template: "/v1/me/workspaces",
    path: () => "/v1/me/workspaces",
    token: () => owner.token,
    fields: ["slug", "name", "environment", "backend_org_id"],
  },
  {
    method: "POST",
    template: "/v1/{workspace_id}/api-keys",
    path: () => `/v1/${workspaceId}/api-keys`,
    token: () => owner.token,
    fields: ["name", "duration_days", "role", "permissions"],
  },
  {
    method: "POST",
    template: "/v1/{workspace_id}/api-keys/{key_id}/rotate",
    path: () => `/v1/${workspaceId}/api-keys/${keyId}/rotate`,
    token: () => owner.token,
    fields: ["duration_days"],
  },
  {
    method: "PATCH",
    template: "/v1/workspaces/{workspace_id}",
    path: () => `/v1/workspaces/${workspaceId}`,
    token: () => owner.token,
    fields: ["name", "environment", "connector_type"],
  },
  {
    method: "POST",
    template: "/v1/workspaces/{workspace_id}/archive",
    path: () => `/v1/workspaces/${workspaceId}/archive`,
    token: () => owner.token,
    fields: ["slug"],
  },
  {
    method: "POST",
    template: "/v1/workspaces/{workspace_id}/convert-environment",
    path: () => `/v1/workspaces/${workspaceId}/convert-environment`,
    token: () => owner.token,
    fields: ["target", "confirm_slug"],
  },
  {
    method: "PUT",
    template: "/v1/workspaces/{workspace_id}/test-caller-numbers",
    path: () => `/v1/workspaces/${workspaceId}/test-caller-numbers`,
    token: () => owner.token,
    fields: ["numbers"],
  },
  {
    method: "PUT",
    template: "/v1/workspaces/{workspace_id}/test-credential-ids",
    path: () => `/v1/workspaces/${workspaceId}/test-credential-ids`,
    token: () => owner.token,
    fields: ["credential_ids"],
  },
  {
    method: "POST",
    template: "/admin/identities",
    path: () => "/admin/identities",
    token: () => env.ADMIN_TOKEN,
    fields: ["email", "display_name", "scopes"],
  },
];

/** No storage internals or stack frames in any answer. */
const LEAK = /D1_ERROR|SQLITE|DrizzleQueryError|\bselect\b.*\bfrom\b|\n\s+at /i;

async function check(target: Target, init: { body?: unknown; rawBody?: string; headers?: Record<string, string> }) {
  const res = await call(target.method, target.path(), { token: target.token(), ...init });
  expect(res.status, res.text).toBeLessThan(500);
  expect(res.text).not.toMatch(LEAK);
  await expectConformant(target.method, target.template, res);
}

describe.each(targets.map((t) => [`${t.method} ${t.template}`, t] as const))("fuzz %s", (_, target) => {
  it("answers random JSON bodies without a 5xx and within its schema", async () => {
    await fc.assert(
      fc.asyncProperty(bodyFor(target.fields), (body) => check(target, { body })),
      { numRuns: RUNS },
    );
  });

  it("answers random raw text as JSON without a 5xx", async () => {
    await fc.assert(
      fc.asyncProperty(fc.string({ maxLength: 40 }), (rawBody) =>
        check(target, { rawBody, headers: { "content-type": "application/json" } }),
      ),
      { numRuns: 20 },
    );
  });
});

/** JSON text nested `depth` levels deep (built as text: a test cannot JSON.stringify what it means to send). */
const nestedArray = (depth: number) => `${"[".repeat(depth)}1${"]".repeat(depth)}`;
const nestedObject = (depth: number) => `${'{"a":'.repeat(depth)}1${"}".repeat(depth)}`;
const withField = (field: string, json: string) => `{"${field}":${json}}`;

describe.each(targets.map((t) => [`${t.method} ${t.template}`, t] as const))("bounded input %s", (_, target) => {
  const send = (rawBody: string) =>
    // only a 422's body is read: FastAPI's validation body
    call<ValidationErrorBody>(target.method, target.path(), {
      token: target.token(),
      rawBody,
      headers: { "content-type": "application/json" },
    });
  const expectTooDeep = async (res: Awaited<ReturnType<typeof send>>) => {
    expect(res.status, res.text.slice(0, 300)).toBe(422);
    expect(res.body.detail).toEqual([
      { loc: ["body"], msg: "JSON nesting is deeper than 32 levels", type: "json_too_deep", ctx: { max_depth: 32 } },
    ]);
    await expectConformant(target.method, target.template, res);
  };

  it("refuses bodies nested deeper than 32 levels with 422 naming the limit, in every field and as a whole", async () => {
    for (const field of target.fields) {
      await expectTooDeep(await send(withField(field, nestedArray(10_000))));
      await expectTooDeep(await send(withField(field, nestedObject(6_000))));
      await expectTooDeep(await send(withField(field, nestedArray(5_000))));
      // 33 levels: the body object and 32 arrays
      await expectTooDeep(await send(withField(field, nestedArray(32))));
    }
    await expectTooDeep(await send(nestedArray(10_000)));
  });

  it("lets 32 levels through to validation, which answers without the depth error", async () => {
    const res = await send(withField(target.fields[0]!, nestedArray(31)));
    expect(res.status).toBeLessThan(500);
    expect(res.text).not.toContain("json_too_deep");
    await expectConformant(target.method, target.template, res);
  });

  it("never echoes more than a short, truncated input in a 422", async () => {
    for (const field of target.fields) {
      for (const value of [
        JSON.stringify("x".repeat(60_000)),
        `[${Array.from({ length: 5_000 }, (_, i) => i).join(",")}]`,
        nestedArray(31),
      ]) {
        const res = await send(withField(field, value));
        expect(res.status).toBeLessThan(500);
        if (res.status !== 422) continue;
        expect(res.text.length, `${field}: ${res.text.slice(0, 200)}`).toBeLessThan(2_000);
        for (const item of res.body.detail) {
          const shown = typeof item.input === "string" ? item.input : JSON.stringify(item.input ?? null);
          expect(shown.length).toBeLessThanOrEqual(MAX_ECHOED_INPUT);
        }
      }
    }
  });
});

/** Header-safe text (a Request cannot carry CR, LF or NUL): printable ASCII, a tab, DEL. */
const headerText = (maxLength: number) =>
  fc.string({
    unit: fc.oneof(fc.integer({ min: 0x20, max: 0x7e }), fc.constantFrom(0x09, 0x7f)).map((c) => String.fromCharCode(c)),
    maxLength,
  });

describe.each(targets.filter((t) => t.template.startsWith("/v1/")).map((t) => [`${t.method} ${t.template}`, t] as const))(
  "fuzz Idempotency-Key %s",
  (_, target) => {
    it("answers any key value without a 5xx, and a retry with the same key and body gets the same answer", async () => {
      const key = fc.oneof(headerText(300), fc.uuid());
      await fc.assert(
        fc.asyncProperty(key, bodyFor(target.fields), async (idempotencyKey, body) => {
          const headers = { "Idempotency-Key": idempotencyKey };
          const first = await call<ErrorBody>(target.method, target.path(), { token: target.token(), body, headers });
          const retry = await call<ErrorBody>(target.method, target.path(), { token: target.token(), body, headers });
          for (const res of [first, retry]) {
            expect(res.status, res.text).toBeLessThan(500);
            await expectConformant(target.method, target.template, res);
          }
          expect(retry.status).toBe(first.status);
          // A valid key replays a first answer that was kept: a success (unless an earlier run took the same key
          // for another body). A refused request (an invalid key or body, no permission) stores nothing: the
          // retry is refused the same way again.
          // (HTTP strips the spaces and tabs around a header value: the server sees the rest.)
          const received = idempotencyKey.replace(/^[ \t]+|[ \t]+$/g, "");
          if (IdempotencyKeySchema.safeParse(received).success && first.status < 300) {
            expect(retry.headers.get("Idempotent-Replayed")).toBe("true");
            expect(retry.text).toBe(first.text);
          } else expect(retry.body.error_code).toBe(first.body.error_code);
        }),
        { numRuns: 25 },
      );
    });
  },
);

describe("fuzz request sizes", () => {
  const base = () => `/v1/workspaces/${workspaceId}`;

  it("answers 414 exactly when the URL is over the limit, else the route's answer", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: MAX_URL_LENGTH - 300, max: MAX_URL_LENGTH + 300 }), async (length) => {
        const prefix = `http://localhost${base()}?pad=`;
        const path = `${base()}?pad=${"u".repeat(Math.max(0, length - prefix.length))}`;
        const res = await call("GET", path, { token: owner.token });
        expect(res.status).toBe(`http://localhost${path}`.length > MAX_URL_LENGTH ? 414 : 200);
        await expectConformant("GET", "/v1/workspaces/{workspace_id}", res);
      }),
      { numRuns: 30 },
    );
  });

  it("answers 431 when the headers are over the limit, before anything else runs", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 2 * MAX_HEADER_BYTES }), headerText(40), async (padding, junk) => {
        const headers = { "content-type": "application/json", "x-padding": "h".repeat(padding) };
        const res = await call("PATCH", base(), { token: owner.token, rawBody: junk, headers });
        expect(res.status, res.text).toBeLessThan(500);
        // What the request carries in all: the padding, and the other headers around it.
        const sent = Object.entries({ ...headers, authorization: `Bearer ${owner.token}` }).reduce(
          (sum, [name, value]) => sum + name.length + value.length,
          0,
        );
        if (sent > MAX_HEADER_BYTES) expect(res.status).toBe(431);
        else expect(res.status).not.toBe(431);
        await expectConformant("PATCH", "/v1/workspaces/{workspace_id}", res);
      }),
      { numRuns: 30 },
    );
  });
});

describe("fuzz query strings", () => {
  const lists = [
    ["/v1/workspaces", () => "/v1/workspaces"],
    ["/v1/{workspace_id}/api-keys", () => `/v1/${workspaceId}/api-keys`],
    ["/v1/workspaces/{workspace_id}/environment-check", () => `/v1/workspaces/${workspaceId}/environment-check`],
  ] as const;
  const param = fc.oneof(
    fc.string({ maxLength: 12 }),
    fc.integer().map(String),
    fc.constantFrom("0", "1", "100", "101", "-1", "1e3", "true", "production"),
  );

  it.each(lists)("GET %s", async (template, path) => {
    await fc.assert(
      fc.asyncProperty(fc.dictionary(fc.constantFrom("limit", "continuation_token", "mine_only", "target"), param), async (query) => {
        const res = await call("GET", `${path()}?${new URLSearchParams(query)}`, { token: owner.token });
        expect(res.status, res.text).toBeLessThan(500);
        expect(res.text).not.toMatch(LEAK);
        await expectConformant("GET", template, res);
      }),
      { numRuns: RUNS },
    );
  });
});
