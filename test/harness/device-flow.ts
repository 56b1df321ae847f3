/**
 * The sign-in against the Worker itself, inside workerd, with real D1 and KV: the SDK's calls
 * (sdk-login.ts) with the Worker as their fetch, and the person's side, the approval page, signed in as
 * Cloudflare Access signs people in.
 */
import type { env } from "cloudflare:workers";
import { fetchWorker } from "./call";
import type { IdentityClient } from "./sdk-login";

export { loginWithDeviceCode, pollDeviceCode, refreshToken, requestDeviceCode, SdkError } from "./sdk-login";

export const ORIGIN = "http://localhost";

/** A fetch that is the Worker, from `address`. */
export function workerFetch(address = "203.0.113.7", bindings: Partial<typeof env> = {}): typeof fetch {
  return (async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = new Request(input, init);
    const headers = new Headers(request.headers);
    if (!headers.has("cf-connecting-ip")) headers.set("cf-connecting-ip", address);
    return fetchWorker(new Request(request, { headers }), bindings);
  }) as typeof fetch;
}

/** The SDK's client with the Worker as its identity service, from `address`. */
export const workerClient = (address?: string, bindings: Partial<typeof env> = {}): IdentityClient => ({
  baseUrl: ORIGIN,
  fetch: workerFetch(address, bindings),
});

/** What the approval page answered: its status, HTML and headers. */
export type PageAnswer = { status: number; html: string; headers: Headers };

async function page(res: Response): Promise<PageAnswer> {
  return { status: res.status, html: await res.text(), headers: res.headers };
}

/** Opens the page as a person Cloudflare Access signed in with `assertion` (null: nobody). */
export async function openPage(userCode: string | null, assertion: string | null, address = "198.51.100.20"): Promise<PageAnswer> {
  const headers: Record<string, string> = assertion === null ? {} : { "cf-access-jwt-assertion": assertion };
  const query = userCode === null ? "" : `?user_code=${encodeURIComponent(userCode)}`;
  return page(await workerFetch(address)(`${ORIGIN}/device${query}`, { headers }));
}

/** The form token of a page that shows a request. */
export function formTokenOf(html: string): string {
  const match = /name="csrf" value="([^"]+)"/.exec(html);
  if (!match?.[1]) throw new Error(`no form token in the page: ${html.slice(0, 400)}`);
  return match[1];
}

/** Presses a button of the page's form. */
export async function submitDecision(
  fields: { user_code: string; csrf: string; decision: string },
  assertion: string | null,
  headers: Record<string, string> = { origin: ORIGIN },
): Promise<PageAnswer> {
  const sent: Record<string, string> = { "content-type": "application/x-www-form-urlencoded", ...headers };
  if (assertion !== null) sent["cf-access-jwt-assertion"] = assertion;
  return page(
    await workerFetch("198.51.100.20")(`${ORIGIN}/device`, { method: "POST", headers: sent, body: new URLSearchParams(fields).toString() }),
  );
}

/** Opens the page for the code and presses Approve (or Deny), as the signed-in person. */
export async function decide(userCode: string, assertion: string, decision: "approve" | "deny" = "approve"): Promise<PageAnswer> {
  const shown = await openPage(userCode, assertion);
  if (shown.status !== 200) throw new Error(`the page answered ${shown.status}: ${shown.html.slice(0, 400)}`);
  return submitDecision({ user_code: userCode, csrf: formTokenOf(shown.html), decision }, assertion);
}
