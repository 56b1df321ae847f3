/**
 * The identity providers of the test run (test/auth/provider-tokens.test.ts and others), served from Node to
 * the Worker's outbound fetch (vitest.config.ts). Keys are generated per run; the tests mint tokens with the
 * private keys, passed in as the binding TEST_ISSUER_KEYS.
 *
 * - https://idp.test: discovery, a key set of RS256, ES256 and EdDSA keys; every scope.
 * - https://readonly.test: the same keys, only `workspaces:read`.
 * - https://rotating.test: at first only `rsa`; `POST https://rotating.test/rotate` publishes `rotated`.
 * - https://team.cloudflareaccess.com: Cloudflare Access's shape (keys at /cdn-cgi/access/certs, no discovery),
 *   configured with `emails_verified` (its tokens carry no `email_verified`).
 * - https://down.test: answers 503 to everything; https://keyless.test: its key set is down.test's;
 *   https://impostor.test: its discovery names idp.test.
 * The key `stranger` is published nowhere (same `kid` as `rsa`).
 */
import { localIssuer, sendAnswer, serveIssuers, signingKey } from "../scripts/test-issuer.mjs";

/** The audience of every provider; test/harness/issuer.ts says it again for the tests. */
const TEST_AUDIENCE = "platform-api-tests";

export async function testIssuers() {
  const keys = {
    rsa: await signingKey("RS256", "rsa-1"),
    ec: await signingKey("ES256", "ec-1"),
    ed: await signingKey("EdDSA", "ed-1"),
    rotated: await signingKey("RS256", "rsa-2"),
    stranger: await signingKey("RS256", "rsa-1"),
  };
  const idp = localIssuer("https://idp.test", [keys.rsa, keys.ec, keys.ed]);
  const readonly = localIssuer("https://readonly.test", [keys.rsa]);
  const rotating = localIssuer("https://rotating.test", [keys.rsa]);
  const access = localIssuer("https://team.cloudflareaccess.com", [keys.ec]);
  const serve = serveIssuers([idp, readonly, rotating]);

  const handler = (req, res) => {
    const { host } = req.headers;
    const path = new URL(req.url ?? "/", "https://any.test").pathname;
    if (host === "down.test") return res.writeHead(503).end("down");
    if (host === "rotating.test" && path === "/rotate") {
      rotating.publish(keys.rotated);
      return res.writeHead(204).end();
    }
    if (host === "impostor.test") return sendAnswer(res, idp.answer(path) ?? { status: 404, headers: {}, body: "" });
    if (host === "team.cloudflareaccess.com") {
      return sendAnswer(res, (path === "/cdn-cgi/access/certs" && access.answer("/jwks")) || { status: 404, headers: {}, body: "" });
    }
    return serve(req, res);
  };

  const provider = (issuer, extra = {}) => ({ issuer, audience: TEST_AUDIENCE, ...extra });
  return {
    handler,
    providers: [
      // Its client for the approval page's code flow (the page's sign-in; its ID tokens are for this audience).
      provider("https://idp.test", { client_id: "platform-api-tests-page" }),
      provider("https://readonly.test", { scopes: ["workspaces:read"] }),
      provider("https://rotating.test"),
      provider("https://team.cloudflareaccess.com", { emails_verified: true }),
      provider("https://down.test"),
      provider("https://keyless.test", { jwks_uri: "https://down.test/jwks" }),
      provider("https://impostor.test"),
    ],
    privateKeys: JSON.stringify(
      Object.fromEntries(Object.entries(keys).map(([name, key]) => [name, { kid: key.kid, alg: key.alg, private: key.private }])),
    ),
  };
}
