/**
 * A local OpenID Connect issuer: keys generated when it starts, a discovery document, a key set, and a
 * way to mint tokens. `npm run dev:issuer` serves one over http for `npm run dev`
 * (scripts/dev-issuer.mjs); the tests serve several to the Worker through Miniflare's outbound fetch
 * (vitest.config.ts). jose makes the keys and signs; nothing here is cryptography of its own.
 */
import { exportJWK, generateKeyPair, importJWK, SignJWT } from "jose";

/** What the issuer's key set and discovery document answer with: the Worker's Cache API keeps them this long. */
const KEY_SET_MAX_AGE_SECONDS = 300;
const DISCOVERY_MAX_AGE_SECONDS = 3600;

/** A key pair as JWKs: `public` goes in the key set, `private` signs (its `kid` and `alg` set on both). */
export async function signingKey(alg, kid) {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true, crv: alg === "EdDSA" ? "Ed25519" : undefined });
  const tag = { kid, alg, use: "sig" };
  return { kid, alg, public: { ...(await exportJWK(publicKey)), ...tag }, private: { ...(await exportJWK(privateKey)), ...tag } };
}

/**
 * An issuer at `issuer` (an origin) publishing `keys`. `answer(path)` is its answer to a GET of `path` as
 * `{ status, headers, body }`, or null for a path it does not serve; `publish(key)` adds a key to the set
 * (a rotation).
 */
export function localIssuer(issuer, keys) {
  const published = [...keys];
  const json = (body, headers = {}) => ({
    status: 200,
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  return {
    issuer,
    keys: published,
    publish: (key) => published.push(key),
    answer(pathname) {
      if (pathname === "/.well-known/openid-configuration") {
        return json(
          {
            issuer,
            jwks_uri: `${issuer}/jwks`,
            id_token_signing_alg_values_supported: [...new Set(published.map((key) => key.alg))],
            // The sign-in page's code flow (authorizationCodeFlow below).
            authorization_endpoint: `${issuer}${AUTHORIZE_PATH}`,
            token_endpoint: `${issuer}${CODE_TOKEN_PATH}`,
            response_types_supported: ["code"],
            code_challenge_methods_supported: ["S256"],
            subject_types_supported: ["public"],
          },
          { "cache-control": `public, max-age=${DISCOVERY_MAX_AGE_SECONDS}` },
        );
      }
      if (pathname === "/jwks") {
        return json({ keys: published.map((key) => key.public) }, { "cache-control": `public, max-age=${KEY_SET_MAX_AGE_SECONDS}` });
      }
      return null;
    },
  };
}

/**
 * A token of `issuer` for `audience`, signed with `key` ({ kid, alg, private }), valid for `lifetimeSeconds`.
 * `claims` add or override claims (an `undefined` one is left out); `header` overrides `alg` or `kid`.
 */
export async function mintToken({ issuer, audience, key, subject, claims = {}, header = {}, lifetimeSeconds = 3600 }) {
  const now = Math.floor(Date.now() / 1000);
  const payload = { iss: issuer, aud: audience, sub: subject, iat: now, exp: now + lifetimeSeconds, ...claims };
  for (const [claim, value] of Object.entries(payload)) if (value === undefined) delete payload[claim];
  return new SignJWT(payload)
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: "JWT", ...header })
    .sign(await importJWK(key.private, key.alg));
}

/** Writes an issuer's answer (`{ status, headers, body }`) to a Node response. */
export function sendAnswer(res, answer) {
  res.writeHead(answer.status, answer.headers).end(answer.body);
}

const NOT_FOUND = { status: 404, headers: { "content-type": "text/plain" }, body: "not found" };

const AUTHORIZE_PATH = "/authorize";
const CODE_TOKEN_PATH = "/oauth/token";
const CODE_LIFETIME_MS = 60_000;
const escapeHtml = (value) => String(value).replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
const base64url = (bytes) => Buffer.from(bytes).toString("base64url");

/**
 * OpenID Connect's authorization code flow with PKCE, as a provider runs it, for the approval page's
 * sign-in (decision 0040): `GET /authorize` is a sign-in page with one field labelled **Email** and a
 * **Sign in** button (no password: the same email is the same person as on `/token?email=`, `sub`
 * `local|<email>`); `POST /authorize` sends the browser back with a code; `POST /oauth/token` takes the
 * code and its PKCE verifier and answers with an ID token for the client (its `aud`) carrying the nonce.
 */
function authorizationCodeFlow(issuer) {
  const codes = new Map();
  const html = (body) => ({
    status: 200,
    headers: { "content-type": "text/html; charset=utf-8", "content-security-policy": "default-src 'none'; form-action *" },
    body,
  });
  const error = (status, message) => ({
    status,
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ error: message }),
  });
  const FIELDS = ["client_id", "redirect_uri", "response_type", "scope", "state", "nonce", "code_challenge", "code_challenge_method"];
  return async function handle(method, url, form) {
    if (url.pathname === AUTHORIZE_PATH && method === "GET") {
      const hidden = FIELDS.map(
        (name) => `<input type="hidden" name="${name}" value="${escapeHtml(url.searchParams.get(name) ?? "")}">`,
      ).join("");
      return html(`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Local provider: sign in</title></head><body>
<main><h1>Local provider</h1><p>No password: any email signs in as that person (for local use only).</p>
<form method="post" action="${AUTHORIZE_PATH}">${hidden}
<p><label for="email">Email</label> <input id="email" name="email" type="email" required autocomplete="email"></p>
<p><button type="submit">Sign in</button></p></form></main></body></html>`);
    }
    if (url.pathname === AUTHORIZE_PATH && method === "POST") {
      const redirect = form.get("redirect_uri");
      const email = form.get("email")?.trim();
      if (!redirect || !email || form.get("response_type") !== "code" || form.get("code_challenge_method") !== "S256") {
        return error(400, "invalid_request");
      }
      const code = base64url(crypto.getRandomValues(new Uint8Array(24)));
      const wanted = { email, nonce: form.get("nonce"), challenge: form.get("code_challenge"), client: form.get("client_id"), redirect };
      codes.set(code, { ...wanted, expires: Date.now() + CODE_LIFETIME_MS });
      const back = new URL(redirect);
      back.searchParams.set("code", code);
      if (form.get("state")) back.searchParams.set("state", form.get("state"));
      back.searchParams.set("iss", issuer.issuer);
      return { status: 302, headers: { location: back.href }, body: "" };
    }
    if (url.pathname === CODE_TOKEN_PATH && method === "POST") {
      const grant = codes.get(form.get("code") ?? "");
      codes.delete(form.get("code") ?? "");
      if (!grant || grant.expires < Date.now() || form.get("grant_type") !== "authorization_code") return error(400, "invalid_grant");
      const verifier = form.get("code_verifier") ?? "";
      const challenge = base64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)));
      if (challenge !== grant.challenge || form.get("redirect_uri") !== grant.redirect || form.get("client_id") !== grant.client) {
        return error(400, "invalid_grant");
      }
      const idToken = await mintToken({
        issuer: issuer.issuer,
        audience: grant.client,
        key: issuer.keys[0],
        subject: `local|${grant.email.toLowerCase()}`,
        claims: { email: grant.email, email_verified: true, nonce: grant.nonce ?? undefined },
        lifetimeSeconds: 300,
      });
      const body = {
        access_token: base64url(crypto.getRandomValues(new Uint8Array(24))),
        token_type: "Bearer",
        expires_in: 300,
        id_token: idToken,
      };
      return { status: 200, headers: { "content-type": "application/json", "cache-control": "no-store" }, body: JSON.stringify(body) };
    }
    return null;
  };
}

/** A request's form body (url-encoded), read whole. */
async function formOf(req) {
  if (req.method !== "POST") return new URLSearchParams();
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString("utf8"));
}

/** Node's request handler for `issuers`, each chosen by the request's Host (for node:http, or Miniflare's outbound `node` service). */
export function serveIssuers(issuers) {
  const flows = new Map(issuers.map((issuer) => [issuer, authorizationCodeFlow(issuer)]));
  return async (req, res) => {
    const issuer = issuers.find((candidate) => new URL(candidate.issuer).host === req.headers.host);
    const url = new URL(req.url ?? "/", issuer?.issuer ?? "http://unknown.invalid");
    const flowAnswer = issuer === undefined ? null : await flows.get(issuer)(req.method, url, await formOf(req));
    const answer = flowAnswer ?? ((req.method === "GET" && issuer?.answer(url.pathname)) || NOT_FOUND);
    sendAnswer(res, answer);
  };
}
