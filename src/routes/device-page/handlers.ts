import { setCookie } from "hono/cookie";
import type { HtmlEscapedString } from "hono/utils/html";
import { issuerOf, signingRing } from "../../auth/signing-ring";
import type { AppContext, AppRouteHandler } from "../../core/env";
import { ApiError } from "../../core/errors";
import type { IdentityPrincipal } from "../../core/principal";
import { PAGE_TOKENS, signPageToken, verifyPageToken } from "../../security/access-tokens";
import { isBlockedAddress, RATE_LIMIT_PERIOD_SECONDS } from "../../security/rate-limit";
import type * as routes from "./routes";
import * as service from "./service";
import { enterCode, layout, outcome, review, signInChoices } from "./views";

/**
 * The approval page (decision 0040): HTML for a person, never JSON. A form is bound to the person shown it
 * and to the request it shows by a token the key ring signs, and must come from this origin.
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
  // same-origin, not no-referrer: with no-referrer a browser sends `Origin: null` on the form's POST, which the origin check refuses.
  c.header("Referrer-Policy", "same-origin");
  return c.html(layout({ title, nonce, body }), status) as never;
}

/** Nobody is signed in: the configured providers to sign in through, coming back to this code. */
function notSignedIn(c: AppContext, userCode: string | undefined) {
  const choices = service.signInProviders(c).map((provider) => {
    const query = new URLSearchParams({ issuer: provider.issuer, ...(userCode ? { user_code: userCode } : {}) });
    return { href: `/device/login?${query}`, name: provider.name ?? new URL(provider.issuer).host };
  });
  return render(c, 401, "Sign in first", signInChoices(choices));
}

function tooManyWrongCodes(c: AppContext) {
  c.header("Retry-After", String(RATE_LIMIT_PERIOD_SECONDS));
  return render(c, 429, "Too many codes", outcome(`Too many codes tried. Wait ${RATE_LIMIT_PERIOD_SECONDS} seconds, then try again.`));
}

/**
 * The guard before a typed code is looked up: a blocked address, or a person or address over its lookup
 * limit, gets the 429 page (true) and nothing is looked up.
 */
async function lookupRefused(c: AppContext, person: IdentityPrincipal): Promise<boolean> {
  const address = c.req.header("cf-connecting-ip");
  if (address && (await isBlockedAddress(address))) return true;
  try {
    await service.countCodeLookup(c, person);
    return false;
  } catch (err) {
    if (err instanceof ApiError && err.code === "rate_limited") return true;
    throw err;
  }
}

const noLongerWaiting = (c: AppContext) =>
  render(c, 404, "Code not found", outcome("This sign-in is no longer waiting: it was decided already, or it expired."));

export const showDevicePage: AppRouteHandler<typeof routes.showDevicePage> = async (c) => {
  const ring = await signingRing(c);
  const typed = c.req.valid("query").user_code;
  const person = await service.signedInPerson(c, ring);
  if (person === null) return notSignedIn(c, typed);
  if (typed === undefined || typed.trim() === "") return render(c, 200, "Sign in a terminal", enterCode(null));
  if (await lookupRefused(c, person)) return tooManyWrongCodes(c);
  const request = await service.pendingRequest(c, typed);
  if (request === undefined) {
    return render(
      c,
      404,
      "Code not found",
      enterCode("No pending sign-in has this code. Check it against your terminal; codes last 10 minutes."),
    );
  }
  const csrf = await signPageToken(ring, issuerOf(c), "form", person.identity_id, { req: request.id });
  const scopes = service.grantedScope(request, person) || "none";
  return render(c, 200, "Approve this sign-in?", review(request, service.shownCode(typed), person.email, scopes, csrf));
};

export const decideDevicePage: AppRouteHandler<typeof routes.decideDevicePage> = async (c) => {
  const ring = await signingRing(c);
  // A form posted from another site's page is refused, whatever it carries.
  const origin = c.req.header("origin");
  if (origin !== undefined && origin !== new URL(c.req.url).origin) {
    return render(c, 403, "Refused", outcome("This form was sent from another site."));
  }
  const form = c.req.valid("form");
  const person = await service.signedInPerson(c, ring);
  if (person === null) return notSignedIn(c, form.user_code);
  // The form's own token first: without one made for this person, nothing is looked up, so the form cannot
  // be used to tell live codes from dead ones.
  const formToken = await verifyPageToken(ring, issuerOf(c), "form", form.csrf);
  if (formToken?.sub !== person.identity_id) {
    return render(c, 400, "Refused", outcome("This form was not made for you or for this sign-in. Open the link again."));
  }
  if (await lookupRefused(c, person)) return tooManyWrongCodes(c);
  const request = await service.pendingRequest(c, form.user_code);
  if (request === undefined || formToken.req !== request.id) return noLongerWaiting(c);
  const approve = form.decision === "approve";
  if (!(await service.recordDecision(c, person, request, approve))) return noLongerWaiting(c);
  const message = approve
    ? "Approved. Go back to your terminal: it is signed in within a few seconds. You can close this page."
    : "Denied. The program that asked gets no access. You can close this page.";
  return render(c, 200, approve ? "Approved" : "Denied", outcome(message));
};

/** Sends the person to the provider they chose, keeping the PKCE verifier, state and nonce in a signed cookie. */
export const startPageSignIn: AppRouteHandler<typeof routes.startPageSignIn> = async (c) => {
  const ring = await signingRing(c);
  const { issuer, user_code } = c.req.valid("query");
  const provider = service.signInProviders(c).find((candidate) => candidate.issuer === issuer);
  if (provider === undefined) return render(c, 404, "Unknown provider", outcome("This deployment does not sign people in there."));
  let started: Awaited<ReturnType<typeof service.beginProviderSignIn>>;
  try {
    started = await service.beginProviderSignIn(c, ring, provider, user_code);
  } catch (err) {
    c.get("logger").warn("could not start a sign-in at an identity provider", { issuer, cause: String(err) });
    return render(c, 503, "Sign-in unavailable", outcome("The identity provider cannot be reached; try again shortly."));
  }
  setCookie(c, service.LOGIN_COOKIE, started.login, service.cookieOptions(PAGE_TOKENS.login.lifetimeSeconds));
  return c.redirect(started.url, 302) as never;
};

/** The person's return from the provider: the session cookie set, and back to the page. */
export const finishPageSignIn: AppRouteHandler<typeof routes.finishPageSignIn> = async (c) => {
  const ring = await signingRing(c);
  const done = await service.completeProviderSignIn(c, ring);
  if (done === null) {
    return render(c, 400, "Sign-in expired", outcome("This sign-in started too long ago, or in another browser. Open the link again."));
  }
  setCookie(c, service.LOGIN_COOKIE, "", service.cookieOptions(0));
  if ("failed" in done) return render(c, 400, "Sign-in failed", outcome("The identity provider did not sign you in. Open the link again."));
  setCookie(c, service.SESSION_COOKIE, done.session, service.cookieOptions(PAGE_TOKENS.session.lifetimeSeconds));
  return c.redirect(`/device${done.userCode ? `?user_code=${encodeURIComponent(done.userCode)}` : ""}`, 302) as never;
};

/** A form or a link that does not validate: the page's own 400, not the API's 422. */
export function pageHook(result: { success: boolean }, c: AppContext): undefined {
  if (result.success) return;
  return render(c, 400, "Refused", outcome("This form or link is not one this page made. Open the link again."));
}
