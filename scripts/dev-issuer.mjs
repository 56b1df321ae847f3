#!/usr/bin/env node
// `npm run dev:issuer [-- --port N]`: a local OpenID Connect issuer for trying identity-provider sign-in
// (docs/guides/identity-providers.md). `npm run dev` starts one itself; run this one alone beside a
// `wrangler dev` started by hand. It serves a discovery document and a key set (keys made at start, so
// tokens of an earlier run stop verifying), a sign-in page for the approval page's code flow (an Email
// field, no password), and mints tokens:
//   curl -s "http://127.0.0.1:8790/token?email=you@example.com"      (also &name=…, &sub=…, &email_verified=false)
// Loopback only: plain http is accepted for loopback issuers alone.
import { createServer } from "node:http";
import { pathToFileURL } from "node:url";
import { localIssuer, mintToken, serveIssuers, signingKey } from "./test-issuer.mjs";

export const DEV_ISSUER_PORT = 8790;
export const DEV_AUDIENCE = "platform-api-local";

/**
 * The OIDC_PROVIDERS value that trusts the local issuer on `port`, for API tokens and for the approval
 * page's sign-in (its client is the audience's name).
 */
export const devProviders = (port = DEV_ISSUER_PORT) =>
  JSON.stringify([{ issuer: `http://127.0.0.1:${port}`, audience: DEV_AUDIENCE, client_id: DEV_AUDIENCE, name: "the local provider" }]);

/** Starts the issuer on 127.0.0.1:`port` (0: any free port); resolves with its origin, its OIDC_PROVIDERS value and a `close()`. */
export async function startDevIssuer(port = DEV_ISSUER_PORT) {
  const key = await signingKey("RS256", `local-${Date.now()}`);
  let origin = "";
  let serve;
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", origin);
    if (url.pathname !== "/token") return serve(req, res);
    const email = url.searchParams.get("email");
    if (!email) return res.writeHead(400, { "content-type": "text/plain" }).end("usage: /token?email=you@example.com\n");
    const claims = { email, email_verified: url.searchParams.get("email_verified") !== "false" };
    const name = url.searchParams.get("name");
    const token = await mintToken({
      issuer: origin,
      audience: DEV_AUDIENCE,
      key,
      // The same email is the same person on every token of this run, unless a sub is given.
      subject: url.searchParams.get("sub") ?? `local|${email.toLowerCase()}`,
      claims: name ? { ...claims, name } : claims,
    });
    res.writeHead(200, { "content-type": "text/plain", "cache-control": "no-store" }).end(`${token}\n`);
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", resolve);
  });
  const { port: bound } = server.address();
  origin = `http://127.0.0.1:${bound}`;
  serve = serveIssuers([localIssuer(origin, [key])]);
  return { origin, providers: devProviders(bound), close: () => new Promise((resolve) => server.close(resolve)) };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const i = process.argv.indexOf("--port");
  const port = i === -1 ? DEV_ISSUER_PORT : Number(process.argv[i + 1]);
  const { origin } = await startDevIssuer(port).catch((err) => {
    console.error(`Cannot listen on 127.0.0.1:${port}: ${err.code ?? err.message}. Another npm run dev or dev:issuer?`);
    process.exit(1);
  });
  console.log(`Local identity provider on ${origin}. Trust it with the variable:
  OIDC_PROVIDERS=${devProviders(port)}
A token:  curl -s "${origin}/token?email=you@example.com"`);
}
