/**
 * Tokens of the test run's identity providers (test/issuers.mjs serves their keys to the Worker): signed
 * with the private keys the run generated, by the same mintToken as the local issuer of `npm run dev`.
 */
import { env } from "cloudflare:workers";
import type { JWK, JWTPayload } from "jose";
import { mintToken } from "../../scripts/test-issuer.mjs";

/** The audience every test provider is configured with (test/issuers.mjs). */
export const TEST_AUDIENCE = "platform-api-tests";

type TestKey = "rsa" | "ec" | "ed" | "rotated" | "stranger";
type PrivateKey = { kid: string; alg: string; private: JWK };

export type TokenOptions = {
  issuer?: string;
  subject?: string;
  key?: TestKey;
  /** Claims to add, or to override (`undefined` removes one). */
  claims?: JWTPayload;
  /** Header fields to override (`alg`, `kid`). */
  header?: { alg?: string; kid?: string };
  lifetimeSeconds?: number;
};

/**
 * A provider's token: by default of https://idp.test, for the test audience, an hour long, with a verified
 * email (`email_verified: true`, as Google's and Auth0's tokens carry it) and a name.
 */
export function providerToken(options: TokenOptions = {}): Promise<string> {
  const key = (JSON.parse(env.TEST_ISSUER_KEYS) as Record<TestKey, PrivateKey>)[options.key ?? "rsa"];
  const subject = options.subject ?? crypto.randomUUID();
  return mintToken({
    issuer: options.issuer ?? "https://idp.test",
    audience: TEST_AUDIENCE,
    key,
    subject,
    claims: { email: `${subject}@example.com`, email_verified: true, name: "Grace Hopper", ...options.claims },
    header: options.header,
    lifetimeSeconds: options.lifetimeSeconds,
  });
}
