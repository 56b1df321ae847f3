// Types of what the workerd tests use from test-issuer.mjs (test/harness/issuer.ts).
import type { JWK, JWTPayload } from "jose";

export function mintToken(options: {
  issuer: string;
  audience: string;
  key: { kid: string; alg: string; private: JWK };
  subject: string;
  claims?: JWTPayload;
  header?: { alg?: string; kid?: string };
  lifetimeSeconds?: number;
}): Promise<string>;
