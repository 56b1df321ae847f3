#!/usr/bin/env node
// `npm run -s audit:keygen -- <name>`: a new Ed25519 key pair for a region's audit-log checkpoints
// (docs/guides/audit.md, "Proving the trail"), in the C2SP signed-note formats. Prints two lines on stdout:
// `AUDIT_SIGNING_KEY=<signer key>`, the secret, and the verifier key, which is public (the API serves it at
// /.well-known/audit-keys). What to do with them goes to stderr, so stdout can be redirected or parsed.
// The name is the key's name in every signature, e.g. the region's host and `/audit`.
import { generateKeyPair } from "../src/security/transparency/signed-note.ts";

const args = process.argv.slice(2);
if (args.length !== 1 || args[0].startsWith("-")) {
  console.error("usage: npm run -s audit:keygen -- <name>   (e.g. us-east-1.platform-api.example.com/audit)");
  process.exit(2);
}

let pair;
try {
  pair = await generateKeyPair(args[0]);
} catch (err) {
  console.error(err.message);
  process.exit(2);
}
console.log(`AUDIT_SIGNING_KEY=${pair.signer}`);
console.log(pair.verifier);
console.error(
  [
    "The first line is a secret: store its value (after the '=') with `wrangler secret put AUDIT_SIGNING_KEY --env <region>`,",
    "and nowhere else. The second line is the public verifier key. When the new key replaces one, add the old key's",
    "verifier key to AUDIT_RETIRED_VERIFIER_KEYS, so the checkpoints it signed still verify.",
  ].join("\n"),
);
