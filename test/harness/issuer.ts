/**
 * Tokens of the test run's identity providers (test/issuers.mjs serves their keys to the Worker): signed
 * here with the private keys the run generated, by jose.
 */
import { env } from "cloudflare:workers";
import { importJWK, type JWK, type JWTPayload, SignJWT } from "jose";

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

/** A provider's token: by default of https://idp.test, for the test audience, an hour long, with an email and a name. */
export async function providerToken(options: TokenOptions = {}): Promise<string> {
  const key = (JSON.parse(env.TEST_ISSUER_KEYS) as Record<TestKey, PrivateKey>)[options.key ?? "rsa"];
  const now = Math.floor(Date.now() / 1000);
  const subject = options.subject ?? crypto.randomUUID();
  const payload: JWTPayload = {
    iss: options.issuer ?? "https://idp.test",
    aud: TEST_AUDIENCE,
    sub: subject,
    iat: now,
    exp: now + (options.lifetimeSeconds ?? 3600),
    email: `${subject}@example.com`,
    name: "Grace Hopper",
    ...options.claims,
  };
  for (const [claim, value] of Object.entries(payload)) if (value === undefined) delete payload[claim];
  return new SignJWT(payload)
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: "JWT", ...options.header })
    .sign(await importJWK(key.private, key.alg));
}
