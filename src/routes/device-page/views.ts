import { html } from "hono/html";
import type { HtmlEscapedString } from "hono/utils/html";
import type { DeviceAuthorizationRow } from "../../storage/d1/schema";

/**
 * The approval page's HTML (Hono's `html` helper escapes every value put in it). No script at all; its one
 * style block carries the response's CSP nonce. Every control has the accessible name the guide and the
 * browser test use: the **Code** field, **Continue**, **Approve** and **Deny**.
 */

type Page = { title: string; nonce: string; body: HtmlEscapedString | Promise<HtmlEscapedString> };

export function layout({ title, nonce, body }: Page) {
  return html`<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>${title} · Platform API sign-in</title>
    <style nonce="${nonce}">
      body { font: 16px/1.5 system-ui, sans-serif; max-width: 34rem; margin: 3rem auto; padding: 0 1rem; color: #1a1a1a; }
      .code { font: 700 2rem/1.2 ui-monospace, monospace; letter-spacing: 0.15em; }
      dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.25rem 1rem; }
      dt { font-weight: 600; }
      button { font: inherit; padding: 0.5rem 1.25rem; margin-right: 0.75rem; }
      .warning { border-left: 4px solid #b45309; padding-left: 0.75rem; }
    </style>
  </head>
  <body>
    <main>
      <h1>${title}</h1>
      ${body}
    </main>
  </body>
</html>`;
}

/** Asks for the code the terminal shows. */
export function enterCode(message: string | null) {
  return html`${message === null ? "" : html`<p role="alert">${message}</p>`}
    <form method="get" action="/device">
      <p><label for="user_code">Code</label></p>
      <p><input id="user_code" name="user_code" autocomplete="off" autocapitalize="characters" spellcheck="false" required /></p>
      <p><button type="submit">Continue</button></p>
    </form>`;
}

/** What the request is, where it came from, and the two buttons. */
export function review(request: DeviceAuthorizationRow, userCode: string, person: string, scopes: string, csrf: string) {
  const from = [request.requestedFromAddress, request.requestedFromCountry].filter((part) => part !== null).join(", ") || "unknown";
  return html`<p>Signed in as <strong>${person}</strong>.</p>
    <p>A program asks to act as you. Check that this is the code your own terminal shows:</p>
    <p class="code" aria-label="Code">${userCode}</p>
    <dl>
      <dt>Program</dt><dd>${request.clientDescription}</dd>
      <dt>Access</dt><dd>${scopes}</dd>
      <dt>Asked from</dt><dd>${from}</dd>
      <dt>Its software</dt><dd>${request.requestedByAgent ?? "unknown"}</dd>
      <dt>Asked at</dt><dd>${request.createdAt}</dd>
    </dl>
    <p class="warning">If you did not start this sign-in yourself, or someone sent you this code or link, press Deny.</p>
    <form method="post" action="/device">
      <input type="hidden" name="user_code" value="${userCode}" />
      <input type="hidden" name="csrf" value="${csrf}" />
      <button type="submit" name="decision" value="approve">Approve</button>
      <button type="submit" name="decision" value="deny">Deny</button>
    </form>`;
}

/** Nobody is signed in: a link to each provider the page signs people in through. */
export function signInChoices(choices: { href: string; name: string }[]) {
  if (choices.length === 0) {
    return html`<p>Sign in to this deployment through your organisation's sign-in (Cloudflare Access), then open this page again.</p>`;
  }
  return html`<p>To approve a terminal's sign-in, first sign in:</p>
    <ul>
      ${choices.map((choice) => html`<li><a href="${choice.href}">Sign in with ${choice.name}</a></li>`)}
    </ul>`;
}

export function outcome(message: string) {
  return html`<p role="status">${message}</p>`;
}
