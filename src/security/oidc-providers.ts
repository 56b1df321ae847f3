import { z } from "@hono/zod-openapi";
import { SCOPES } from "../core/domain";

/**
 * `OIDC_PROVIDERS`: the identity providers whose tokens sign people in (docs/guides/identity-providers.md).
 * A JSON array of `{ issuer, audience, scopes?, jwks_uri?, emails_verified?, client_id?, client_secret_binding?, name? }`; empty
 * or unset, no provider token is accepted.
 */

const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]"]);

/** A URL's hostname names this machine (as URL writes it: `[::1]` in brackets). */
export const isLoopbackHost = (hostname: string) => LOOPBACK_HOSTS.has(hostname);

/** Loopback hosts may serve plain http (a local test issuer); every other issuer must be https. */
export function isTrustedTransport(url: URL): boolean {
  return url.protocol === "https:" || (url.protocol === "http:" && isLoopbackHost(url.hostname));
}

const SecureUrl = z
  .url()
  .refine(
    (value) => URL.canParse(value) && isTrustedTransport(new URL(value)),
    "must be https (plain http only for localhost, 127.0.0.1 or [::1])",
  );

/** Cloudflare Access team domains publish their key set here, and no discovery document. */
const ACCESS_TEAM_DOMAIN = /^https:\/\/[a-z0-9-]+\.cloudflareaccess\.com$/;
const ACCESS_CERTS_PATH = "/cdn-cgi/access/certs";

const ProviderSchema = z
  .object({
    /** Compared exactly with the token's `iss`. */
    issuer: SecureUrl,
    /** Must be one of the token's `aud`. */
    audience: z.string().min(1),
    /** What an identity of this issuer may do; a token's own `scope`/`scp` can only narrow it. */
    scopes: z.array(z.enum(SCOPES)).default([...SCOPES]),
    /** Where the key set is; by default from the issuer's discovery document. */
    jwks_uri: SecureUrl.optional(),
    /**
     * Every email this provider puts in a token is the organisation's own (e.g. Cloudflare Access in front of
     * a company directory): its emails count as verified without an `email_verified: true` claim.
     */
    emails_verified: z.boolean().default(false),
    /**
     * The approval page's sign-in (decision 0040): the client registered at this provider for the
     * authorization code flow with PKCE, its redirect URI `<PUBLIC_URL>/device/callback`. Absent: people
     * do not sign in to the page through this provider.
     */
    client_id: z.string().min(1).max(256).optional(),
    /** The name of the Worker secret holding the client's secret, for a provider that will not take a public client. */
    client_secret_binding: z
      .string()
      .regex(/^[A-Z][A-Z0-9_]{0,63}$/)
      .optional(),
    /** What the page's sign-in button says after "Sign in with" (default: the issuer's host). */
    name: z.string().min(1).max(64).optional(),
  })
  .strict();

export type OidcProvider = Omit<z.infer<typeof ProviderSchema>, "jwks_uri"> & {
  /** Known up front (configured, or the Cloudflare Access preset), or null: read from discovery. */
  jwksUri: string | null;
};

const ProvidersSchema = z.array(ProviderSchema).refine((list) => new Set(list.map((p) => p.issuer)).size === list.length, {
  message: "each issuer may appear once",
});

/** What the configuration says: the providers, or why it cannot be used (tokens then get 503, see provider-token.ts). */
export type ProviderConfig = { providers: Map<string, OidcProvider> } | { invalid: string };

let parsed: { value: string; config: ProviderConfig } | undefined;

/** Parsed once per value of the variable (it changes only with a deploy). */
export function providerConfig(configured: unknown): ProviderConfig {
  const value = typeof configured === "string" ? configured.trim() : "";
  if (parsed?.value !== value) parsed = { value, config: parseProviders(value) };
  return parsed.config;
}

function parseProviders(value: string): ProviderConfig {
  if (value === "") return { providers: new Map() };
  let json: unknown;
  try {
    json = JSON.parse(value);
  } catch {
    return { invalid: "OIDC_PROVIDERS is not JSON" };
  }
  const result = ProvidersSchema.safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0];
    return { invalid: `OIDC_PROVIDERS ${issue?.path.join(".") ?? ""}: ${issue?.message ?? "invalid"}` };
  }
  return {
    providers: new Map(
      result.data.map(({ jwks_uri, ...provider }) => [
        provider.issuer,
        { ...provider, jwksUri: jwks_uri ?? (ACCESS_TEAM_DOMAIN.test(provider.issuer) ? provider.issuer + ACCESS_CERTS_PATH : null) },
      ]),
    ),
  };
}
