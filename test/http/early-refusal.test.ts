/**
 * The early refusal (src/http/early-refusal.ts): a missing or malformed credential under /v1 is answered
 * before the router exactly as the app answers it (status, body, every header), and every request the
 * app would answer otherwise, or that carries a credential worth checking, is left to the app.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { app } from "../../src";
import type { Bindings } from "../../src/core/env";
import { MAX_HEADER_BYTES, MAX_URL_LENGTH } from "../../src/core/limits";
import { earlyRefusal } from "../../src/http/early-refusal";
import { generateSecret } from "../../src/security/secret";

const WORKSPACE = "0b7c6f3e-2a41-4c7e-9a55-3f1d2b8e4c10";
const request = (path: string, headers: Record<string, string> = {}, init: RequestInit = {}) =>
  new Request(`http://localhost${path}`, { ...init, headers });
const bindings = (extra: Partial<Bindings> = {}) => ({ ...env, ...extra }) as Bindings;

/** An answer as a comparable value: a generated request id is the same placeholder in the header and the body. */
async function comparable(res: Response) {
  const body = (await res.json()) as { request_id: string };
  const generated = body.request_id.startsWith("req_");
  const id = (value: string | null) => (generated && value === body.request_id ? "<generated>" : value);
  const headers = Object.fromEntries([...res.headers].map(([name, value]) => [name, id(value)]));
  return { status: res.status, headers, body: { ...body, request_id: id(body.request_id) } };
}

async function appAnswer(req: Request, extra: Partial<Bindings> = {}) {
  const ctx = createExecutionContext();
  const res = await app.fetch(req, bindings(extra), ctx);
  await waitOnExecutionContext(ctx);
  return comparable(res);
}

const malformed: [string, () => Request, Partial<Bindings>?][] = [
  ["no credential", () => request("/v1/auth/me")],
  ["another scheme", () => request("/v1/auth/me", { authorization: "Basic dXNlcjpwYXNz" })],
  ["a bearer token of no known shape", () => request("/v1/workspaces", { authorization: "Bearer not-a-valid-token" })],
  ["a secret whose checksum is wrong", () => request("/v1/workspaces", { authorization: `Bearer ${generateSecret("wsk").slice(0, -1)}0` })],
  ["an empty bearer", () => request("/v1/me", { authorization: "Bearer " })],
  ["an Access header that is not a JWT", () => request("/v1/me", { "cf-access-jwt-assertion": "nonsense" })],
  ["a DELETE", () => request(`/v1/workspaces/${WORKSPACE}`, { authorization: "Bearer x" }, { method: "DELETE" })],
  ["a path no route has", () => request("/v1/no/such/route", { authorization: "Bearer x" })],
  ["the client's request id", () => request("/v1/auth/me", { authorization: "Bearer x", "x-request-id": "client-id.42" })],
  ["an unusable client request id", () => request("/v1/auth/me", { authorization: "Bearer x", "x-request-id": "two words" })],
  ["CORS configured, no Origin sent", () => request("/v1/auth/me"), { ALLOWED_ORIGINS: "https://console.example.com" }],
];

describe("a missing or malformed credential under /v1", () => {
  it.each(malformed)("%s: the app's own 401, header for header", async (_name, make, extra = {}) => {
    const early = earlyRefusal(make(), bindings(extra));
    expect(early).not.toBeNull();
    const answer = await comparable(early!);
    expect(answer.status).toBe(401);
    expect(answer).toEqual(await appAnswer(make(), extra));
  });
});

const jwtShaped = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl";
const left: [string, () => Request, Partial<Bindings>?][] = [
  ["a personal token of the right shape", () => request("/v1/me", { authorization: `Bearer ${generateSecret("pat")}` })],
  ["an API key of the right shape", () => request("/v1/auth/me", { authorization: `Bearer ${generateSecret("wsk")}` })],
  ["a JWT", () => request("/v1/me", { authorization: `Bearer ${jwtShaped}` })],
  ["an Access JWT", () => request("/v1/me", { "cf-access-jwt-assertion": jwtShaped })],
  ["a request from a browser (Origin: CORS)", () => request("/v1/auth/me", { origin: "https://console.example.com" })],
  ["a preflight", () => request("/v1/auth/me", {}, { method: "OPTIONS" })],
  ["a HEAD", () => request("/v1/auth/me", {}, { method: "HEAD" })],
  ["a body (its size limit comes first)", () => request("/v1/me/workspaces", {}, { method: "POST", body: "{}" })],
  ["a D1 bookmark (its format is checked first)", () => request("/v1/auth/me", { "x-d1-bookmark": "nonsense" })],
  ["an oversized URL (414 first)", () => request(`/v1/auth/me?q=${"a".repeat(MAX_URL_LENGTH)}`)],
  ["oversized headers (431 first)", () => request("/v1/auth/me", { "x-filler": "a".repeat(MAX_HEADER_BYTES) })],
  ["the admin surface", () => request("/admin/identities", { authorization: "Bearer x" })],
  ["a public path", () => request("/health")],
  ["the document at upstream's path", () => request("/v1/openapi.json")],
  ["the reference at upstream's path", () => request("/v1/docs", { authorization: "Bearer x" })],
  ["a REGION the deployment cannot serve (500 first)", () => request("/v1/auth/me"), { REGION: "mars-1" as Bindings["REGION"] }],
  ["debug logging (a line per request)", () => request("/v1/auth/me"), { LOG_LEVEL: "debug" }],
];

describe("everything else", () => {
  it.each(left)("%s: left to the app", (_name, make, extra = {}) => {
    expect(earlyRefusal(make(), bindings(extra))).toBeNull();
  });
});
