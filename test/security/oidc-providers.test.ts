/** OIDC_PROVIDERS (docs/guides/identity-providers.md, "Configuration"): what is accepted, and why not. */
import { describe, expect, it } from "vitest";
import { providerConfig } from "../../src/security/oidc-providers";

const config = (providers: unknown) => providerConfig(JSON.stringify(providers));

describe("OIDC_PROVIDERS", () => {
  it("takes https issuers, and plain http only on loopback hosts", () => {
    for (const issuer of ["https://idp.example.com", "http://localhost:8790", "http://127.0.0.1:8790", "http://[::1]:8790"]) {
      expect(config([{ issuer, audience: "api" }]), issuer).toHaveProperty("providers");
    }
    for (const issuer of ["http://idp.example.com", "http://10.0.0.1", "ftp://idp.example.com", "not a url"]) {
      expect(config([{ issuer, audience: "api" }]), issuer).toEqual({ invalid: expect.stringContaining("issuer") });
    }
  });

  it("defaults the scopes to both, and the key set to discovery, or Access's certs for a team domain", () => {
    const parsed = config([
      { issuer: "https://idp.example.com", audience: "api" },
      { issuer: "https://acme.cloudflareaccess.com", audience: "aud-tag", scopes: ["workspaces:read"] },
      { issuer: "https://other.example.com", audience: "api", jwks_uri: "https://keys.example.com/jwks" },
    ]);
    if (!("providers" in parsed)) throw new Error(parsed.invalid);
    expect(parsed.providers.get("https://idp.example.com")).toMatchObject({
      scopes: ["workspaces:read", "workspaces:write"],
      jwksUri: null,
    });
    expect(parsed.providers.get("https://acme.cloudflareaccess.com")).toMatchObject({
      scopes: ["workspaces:read"],
      jwksUri: "https://acme.cloudflareaccess.com/cdn-cgi/access/certs",
    });
    expect(parsed.providers.get("https://other.example.com")?.jwksUri).toBe("https://keys.example.com/jwks");
  });

  it("trusts a provider's emails only when its entry says emails_verified: true (a boolean)", () => {
    const issuer = "https://idp.example.com";
    const parsed = config([{ issuer, audience: "api" }]);
    if (!("providers" in parsed)) throw new Error(parsed.invalid);
    expect(parsed.providers.get(issuer)?.emails_verified).toBe(false);
    const trusted = config([{ issuer, audience: "api", emails_verified: true }]);
    if (!("providers" in trusted)) throw new Error(trusted.invalid);
    expect(trusted.providers.get(issuer)?.emails_verified).toBe(true);
    expect(config([{ issuer, audience: "api", emails_verified: "yes" }])).toEqual({ invalid: expect.stringContaining("emails_verified") });
  });

  it("refuses what it cannot use: not JSON, an unknown field or scope, a missing audience, an issuer twice", () => {
    expect(providerConfig("{")).toEqual({ invalid: "OIDC_PROVIDERS is not JSON" });
    const issuer = "https://idp.example.com";
    for (const providers of [
      [{ issuer, audience: "api", extra: true }],
      [{ issuer, audience: "api", scopes: ["root"] }],
      [{ issuer }],
      [{ issuer, audience: "" }],
      [{ issuer, audience: "api", jwks_uri: "http://keys.example.com" }],
      [
        { issuer, audience: "a" },
        { issuer, audience: "b" },
      ],
      { issuer, audience: "api" },
    ]) {
      expect(config(providers), JSON.stringify(providers)).toHaveProperty("invalid");
    }
    expect(providerConfig("")).toEqual({ providers: new Map() });
    expect(providerConfig(undefined)).toEqual({ providers: new Map() });
  });
});
