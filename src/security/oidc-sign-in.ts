import * as oauth from "oauth4webapi";
import { isTrustedTransport, type OidcProvider } from "./oidc-providers";

/**
 * The approval page's sign-in at an identity provider (decision 0040): OpenID Connect's authorization code
 * flow with PKCE (S256), state and nonce, by oauth4webapi. The ID token it ends with is then verified
 * against the provider's key set as any of its tokens is (provider-token.ts), for the client's audience.
 */

/** The provider's discovery document is read once an hour per isolate; a failed read is not kept. */
const DISCOVERY_TTL_MS = 60 * 60 * 1000;
const discovered = new Map<string, { at: number; server: Promise<oauth.AuthorizationServer> }>();

/** Plain http only for a loopback issuer (a local one), as everywhere else. */
const transport = (issuer: string) =>
  new URL(issuer).protocol === "http:" && isTrustedTransport(new URL(issuer)) ? { [oauth.allowInsecureRequests]: true } : {};

function authorizationServer(provider: OidcProvider): Promise<oauth.AuthorizationServer> {
  const cached = discovered.get(provider.issuer);
  if (cached && Date.now() - cached.at < DISCOVERY_TTL_MS) return cached.server;
  const issuer = new URL(provider.issuer);
  const server = oauth
    .discoveryRequest(issuer, { algorithm: "oidc", ...transport(provider.issuer) })
    .then((response) => oauth.processDiscoveryResponse(issuer, response));
  server.catch(() => discovered.delete(provider.issuer));
  discovered.set(provider.issuer, { at: Date.now(), server });
  return server;
}

/** What the page keeps (in a signed cookie) between sending the person to the provider and their return. */
export type SignInState = { state: string; nonce: string; codeVerifier: string };

/** Where to send the person, and what to keep for their return. */
export async function startSignIn(provider: OidcProvider & { client_id: string }, redirectUri: string) {
  const server = await authorizationServer(provider);
  if (!server.authorization_endpoint) throw new Error(`${provider.issuer} publishes no authorization_endpoint`);
  const kept: SignInState = {
    state: oauth.generateRandomState(),
    nonce: oauth.generateRandomNonce(),
    codeVerifier: oauth.generateRandomCodeVerifier(),
  };
  const url = new URL(server.authorization_endpoint);
  url.searchParams.set("client_id", provider.client_id);
  url.searchParams.set("redirect_uri", redirectUri);
  url.searchParams.set("response_type", "code");
  url.searchParams.set("scope", "openid email profile");
  url.searchParams.set("state", kept.state);
  url.searchParams.set("nonce", kept.nonce);
  url.searchParams.set("code_challenge", await oauth.calculatePKCECodeChallenge(kept.codeVerifier));
  url.searchParams.set("code_challenge_method", "S256");
  return { url: url.href, kept };
}

/** Why the return from the provider does not sign anyone in (the page says so; the log has the cause). */
export class SignInFailed extends Error {}

/**
 * The person's return (`currentUrl` holds the code and state): the code exchanged with the verifier, the
 * state and nonce checked, and the ID token returned for verification.
 */
export async function finishSignIn(
  provider: OidcProvider & { client_id: string },
  redirectUri: string,
  currentUrl: URL,
  kept: SignInState,
  clientSecret: string | undefined,
): Promise<string> {
  try {
    const server = await authorizationServer(provider);
    const client: oauth.Client = { client_id: provider.client_id };
    const params = oauth.validateAuthResponse(server, client, currentUrl, kept.state);
    const auth = clientSecret === undefined ? oauth.None() : oauth.ClientSecretPost(clientSecret);
    const response = await oauth.authorizationCodeGrantRequest(
      server,
      client,
      auth,
      params,
      redirectUri,
      kept.codeVerifier,
      transport(provider.issuer),
    );
    const result = await oauth.processAuthorizationCodeResponse(server, client, response, {
      expectedNonce: kept.nonce,
      requireIdToken: true,
    });
    if (!result.id_token) throw new Error("no id_token");
    return result.id_token;
  } catch (err) {
    throw new SignInFailed(err instanceof Error ? err.message : String(err), { cause: err });
  }
}
