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
    publish: (key) => published.push(key),
    answer(pathname) {
      if (pathname === "/.well-known/openid-configuration") {
        return json(
          { issuer, jwks_uri: `${issuer}/jwks`, id_token_signing_alg_values_supported: [...new Set(published.map((key) => key.alg))] },
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

/** Node's request handler for `issuers`, each chosen by the request's Host (for node:http, or Miniflare's outbound `node` service). */
export function serveIssuers(issuers) {
  return (req, res) => {
    const issuer = issuers.find((candidate) => new URL(candidate.issuer).host === req.headers.host);
    const answer = (req.method === "GET" && issuer?.answer(new URL(req.url ?? "/", issuer.issuer).pathname)) || NOT_FOUND;
    sendAnswer(res, answer);
  };
}
