import type { HtmlEscapedString } from "hono/utils/html";
import { providerPrincipal } from "../../auth/provider-identity";
import type { AppContext, AppRouteHandler } from "../../core/env";
import { ApiError } from "../../core/errors";
import type { IdentityPrincipal } from "../../core/principal";
import { isFormTokenFor, signFormToken } from "../../security/access-tokens";
import { blockAddress, countRequest, isBlockedAddress, RATE_LIMIT_PERIOD_SECONDS } from "../../security/rate-limit";
import { sha256Hex } from "../../security/secret";
import { auditActorOf, auditEvent } from "../../storage/audit-events/record";
import type { DeviceAuthorizationRow } from "../../storage/d1/schema";
import { decideDeviceAuthorization, deviceAuthorizationBy } from "../../storage/sign-ins";
import { normalizedUserCode, scopeString, scopesOf } from "../identity/grants";
import { issuerOf, signingRing } from "../identity/handlers";
import { enterCode, layout, outcome, review } from "./page";
import type * as routes from "./routes";

/**
 * The approval page (decision 0040). The person is whoever Cloudflare Access signed in (its
 * `Cf-Access-Jwt-Assertion`, verified as any configured provider's token); a form is bound to them and to
 * the request it shows by a token the key ring signs, and must come from this origin. Wrong codes count
 * against the address as failed authentications do, and against the person.
 */

type Status = 200 | 400 | 401 | 403 | 404 | 429 | 503;

/** A strict policy: no script, no frame, nothing from elsewhere; the one style block by its nonce; forms to this origin only. */
function render(c: AppContext, status: Status, title: string, body: HtmlEscapedString | Promise<HtmlEscapedString>) {
  const nonce = crypto.randomUUID().replaceAll("-", "");
  c.header(
    "Content-Security-Policy",
    `default-src 'none'; style-src 'nonce-${nonce}'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`,
  );
  c.header("X-Frame-Options", "DENY");
  c.header("Referrer-Policy", "no-referrer");
  return c.html(layout({ title, nonce, body }), status);
}

const notSignedIn = (c: AppContext) =>
  render(
    c,
    401,
    "Sign in first",
    outcome("Sign in to this deployment through your organisation's sign-in (Cloudflare Access), then open this page again."),
  );

/** The signed-in person, or null. Only Cloudflare Access's header counts here: a page is not sent bearer tokens. */
async function signedInPerson(c: AppContext): Promise<IdentityPrincipal | null> {
  const assertion = c.req.header("cf-access-jwt-assertion")?.trim();
  if (!assertion) return null;
  try {
    return await providerPrincipal(c, assertion);
  } catch (err) {
    if (err instanceof ApiError) throw err;
    c.get("logger").warn("refused the approval page's sign-in", { reason: err instanceof Error ? err.message : String(err) });
    return null;
  }
}

/**
 * A code that names no pending request: counted against the address (as a failed authentication, and a
 * blocked address is refused before any lookup) and the person. Null while under the limits.
 */
async function countWrongCode(c: AppContext, person: IdentityPrincipal): Promise<Response | null> {
  const address = c.req.header("cf-connecting-ip");
  try {
    if (address) await countRequest(c, "AUTH_FAILURE_RATE_LIMIT", address);
    await countRequest(c, "AUTH_FAILURE_RATE_LIMIT", `user-code:${person.identity_id}`);
    return null;
  } catch (err) {
    if (!(err instanceof ApiError) || err.code !== "rate_limited") throw err;
    if (address) await blockAddress(address).catch(() => undefined);
    c.get("logger").warn("refused an approval page over its wrong-code limit", { address, identity_id: person.identity_id });
    return tooManyWrongCodes(c);
  }
}

function tooManyWrongCodes(c: AppContext) {
  c.header("Retry-After", String(RATE_LIMIT_PERIOD_SECONDS));
  return render(
    c,
    429,
    "Too many wrong codes",
    outcome(`Too many wrong codes. Wait ${RATE_LIMIT_PERIOD_SECONDS} seconds, then try again.`),
  );
}

/** The pending, unexpired request a typed code names, or undefined. */
async function pendingRequest(c: AppContext, typed: string): Promise<DeviceAuthorizationRow | undefined> {
  const code = normalizedUserCode(typed);
  if (code === null) return undefined;
  const row = await deviceAuthorizationBy(c.get("storage").db, { userCodeHash: await sha256Hex(code) });
  return row?.state === "pending" && Date.parse(row.expiresAt) > Date.now() ? row : undefined;
}

const shownCode = (typed: string) => {
  const code = normalizedUserCode(typed) ?? "";
  return `${code.slice(0, 4)}-${code.slice(4)}`;
};

/** What approving grants: the scopes asked for (all, when none were named), as far as the person has them. */
const grantedScope = (request: DeviceAuthorizationRow, person: IdentityPrincipal) =>
  scopeString(request.scope === "" ? person.scopes : scopesOf(request.scope).filter((scope) => person.scopes.includes(scope)));

export const showDevicePage: AppRouteHandler<typeof routes.showDevicePage> = async (c) => {
  const ring = await signingRing(c);
  const person = await signedInPerson(c);
  if (person === null) return notSignedIn(c) as never;
  const typed = c.req.valid("query").user_code;
  if (typed === undefined || typed.trim() === "") return render(c, 200, "Sign in a terminal", enterCode(null)) as never;
  const address = c.req.header("cf-connecting-ip");
  if (address && (await isBlockedAddress(address))) return tooManyWrongCodes(c) as never;
  const request = await pendingRequest(c, typed);
  if (request === undefined) {
    const limited = await countWrongCode(c, person);
    if (limited) return limited as never;
    return render(
      c,
      404,
      "Code not found",
      enterCode("No pending sign-in has this code. Check it against your terminal; codes last 10 minutes."),
    ) as never;
  }
  const csrf = await signFormToken(ring, issuerOf(c), person.identity_id, request.id);
  const scopes = grantedScope(request, person) || "none";
  return render(c, 200, "Approve this sign-in?", review(request, shownCode(typed), person.email, scopes, csrf)) as never;
};

export const decideDevicePage: AppRouteHandler<typeof routes.decideDevicePage> = async (c) => {
  const ring = await signingRing(c);
  // A form posted from another site's page (the cookie-less CSRF a login form can still suffer) is refused.
  const origin = c.req.header("origin");
  if (origin !== undefined && origin !== new URL(c.req.url).origin) {
    return render(c, 403, "Refused", outcome("This form was sent from another site.")) as never;
  }
  const person = await signedInPerson(c);
  if (person === null) return notSignedIn(c) as never;
  const form = c.req.valid("form");
  const request = await pendingRequest(c, form.user_code);
  if (request === undefined) {
    return render(c, 404, "Code not found", outcome("This sign-in is no longer waiting: it was decided already, or it expired.")) as never;
  }
  if (!(await isFormTokenFor(ring, issuerOf(c), form.csrf, person.identity_id, request.id))) {
    return render(c, 400, "Refused", outcome("This form was not made for you or for this sign-in. Open the link again.")) as never;
  }
  const state = form.decision === "approve" ? "approved" : "denied";
  const scope = grantedScope(request, person);
  const at = new Date().toISOString();
  const actor = {
    ...auditActorOf(c),
    entityId: person.identity_id,
    credentialId: person.credential_id,
    credentialIssuer: person.issuer ?? null,
  };
  const event = auditEvent(
    actor,
    {
      workspaceId: null,
      action: state === "approved" ? "device_authorization.approved" : "device_authorization.denied",
      resourceType: "device_authorization",
      resourceId: request.id,
      resourceName: request.clientDescription,
      metadata: {
        client_description: request.clientDescription,
        scopes: scopesOf(scope),
        requested_from_address: request.requestedFromAddress,
        requested_from_country: request.requestedFromCountry,
      },
    },
    at,
  );
  const decided = await decideDeviceAuthorization(
    c.get("storage").db,
    request.id,
    { state, identityId: person.identity_id, scope, at },
    event,
  );
  if (!decided)
    return render(c, 404, "Code not found", outcome("This sign-in is no longer waiting: it was decided already, or it expired.")) as never;
  const message =
    state === "approved"
      ? "Approved. Go back to your terminal: it is signed in within a few seconds. You can close this page."
      : "Denied. The program that asked gets no access. You can close this page.";
  return render(c, 200, state === "approved" ? "Approved" : "Denied", outcome(message)) as never;
};

/** A form that does not validate: the page's own 400, not the API's 422. */
export function formHook(result: { success: boolean }, c: AppContext): undefined {
  if (result.success) return;
  return render(c, 400, "Refused", outcome("This form is not one this page made. Open the link again.")) as never;
}
