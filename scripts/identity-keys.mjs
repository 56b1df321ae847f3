#!/usr/bin/env node
// `npm run -s identity:keygen [-- '<current IDENTITY_SIGNING_KEYS>']`: the value of the IDENTITY_SIGNING_KEYS
// secret (decision 0040), which signs the deployment's own access tokens: a JSON array of RSA private JWKs,
// the first signing. Without an argument, a ring of one new key; with the current value, the new key put
// first and the current signing key kept second (a rotation: drop it once its tokens have run out, 15 minutes
// on). Prints the value on stdout; what to do with it on stderr.
import { pathToFileURL } from "node:url";
import { exportJWK, generateKeyPair } from "jose";

/** A new RS256 signing key, as a private JWK with a kid made of the date and random hex. */
export async function newIdentitySigningKey() {
  const { privateKey } = await generateKeyPair("RS256", { modulusLength: 2048, extractable: true });
  const kid = `${new Date().toISOString().slice(0, 10)}-${crypto.randomUUID().slice(0, 8)}`;
  return { ...(await exportJWK(privateKey)), kid, alg: "RS256" };
}

/** A ring of one new key, or the new key before the current ring's signing key. */
export async function identitySigningKeys(current) {
  const key = await newIdentitySigningKey();
  if (current === undefined) return JSON.stringify([key]);
  const ring = JSON.parse(current);
  if (!Array.isArray(ring) || ring.length === 0) throw new Error("the current value is not a JSON array of keys");
  return JSON.stringify([key, ring[0]]);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const current = process.argv[2];
  try {
    console.log(await identitySigningKeys(current));
  } catch (err) {
    console.error(`Cannot read the current IDENTITY_SIGNING_KEYS: ${err.message}`);
    process.exit(2);
  }
  console.error(
    [
      "This is a secret: store it with `wrangler secret put IDENTITY_SIGNING_KEYS --env <region>`, and nowhere else.",
      current === undefined
        ? "To rotate later, run this again with the current value as its argument."
        : "The old signing key stays second so the tokens it signed keep working; after 15 minutes, run with only the new key.",
    ].join("\n"),
  );
}
