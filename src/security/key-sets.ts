import { createRemoteJWKSet, customFetch, errors, type FlattenedJWSInput, type JWSHeaderParameters, type RemoteJWKSet } from "jose";
import { isTrustedTransport, type OidcProvider } from "./oidc-providers";

/**
 * Each provider's published keys (decision 0029). jose fetches, selects and imports them; this module
 * only decides where they come from: the isolate's memory first, then the location's Cache API (which
 * keeps a document as long as its own Cache-Control says), then the provider. A token whose `kid` is not
 * in the set makes jose fetch the set again, at most once a minute per isolate, straight from the
 * provider (a rotation is seen at once), and the fresh set replaces the cached one for the location.
 */

/** Why a provider's keys could not be had: its tokens get 503 (every other credential keeps working). */
export class KeySetUnavailable extends Error {}

/** How long one fetch of a discovery document or key set may take. */
const FETCH_TIMEOUT_MS = 3_000;
/** After a fetch, how long before a token with an unknown `kid` may cause another. */
const REFETCH_COOLDOWN_MS = 60_000;
/** How long an isolate trusts the keys it holds without asking again (the Cache API may still answer). */
const ISOLATE_MAX_AGE_MS = 5 * 60_000;
/** How long an isolate remembers a discovery document's `jwks_uri`. */
const DISCOVERY_MAX_AGE_MS = 60 * 60_000;

/** Per isolate: one jose key set per key set URL, and each issuer's `jwks_uri` with when it was read. */
const keySets = new Map<string, RemoteJWKSet>();
const discovered = new Map<string, { jwksUri: Promise<string>; at: number }>();

async function fromCacheApi(url: string): Promise<Response | undefined> {
  try {
    return await caches.default.match(url);
  } catch {
    return undefined;
  }
}

/**
 * Keeps a 200 for the location, as long as its Cache-Control allows (the Cache API honours it; no-store is
 * not kept). Awaited, not left to a request's waitUntil: the key set outlives the request that fetched it,
 * and this happens about once per isolate per five minutes.
 */
async function keepForLocation(url: string, response: Response): Promise<void> {
  await caches.default.put(url, response.clone()).catch(() => undefined);
}

async function fetchFromProvider(url: string, init: RequestInit = {}): Promise<Response> {
  const response = await fetch(url, { ...init, signal: init.signal ?? AbortSignal.timeout(FETCH_TIMEOUT_MS), redirect: "manual" });
  if (response.status !== 200) throw new KeySetUnavailable(`${new URL(url).host} answered ${response.status}`);
  return response;
}

function keySetFor(url: string): RemoteJWKSet {
  let set = keySets.get(url);
  if (set) return set;
  const created: RemoteJWKSet = createRemoteJWKSet(new URL(url), {
    timeoutDuration: FETCH_TIMEOUT_MS,
    cooldownDuration: REFETCH_COOLDOWN_MS,
    cacheMaxAge: ISOLATE_MAX_AGE_MS,
    // jose asks while its keys are still fresh only for a `kid` it does not hold: then only the provider will do.
    [customFetch]: async (resource, options) => {
      const cached = created.fresh ? undefined : await fromCacheApi(resource);
      if (cached) return cached;
      const response = await fetchFromProvider(resource, options);
      await keepForLocation(resource, response);
      return response;
    },
  });
  set = created;
  keySets.set(url, set);
  return set;
}

const DiscoveryError = (issuer: string, why: string) => new KeySetUnavailable(`discovery for ${issuer}: ${why}`);

/** The issuer's `jwks_uri`, from its discovery document, which must name the same issuer (OIDC Discovery §4.3). */
async function discoverJwksUri(issuer: string): Promise<string> {
  const url = `${issuer.replace(/\/$/, "")}/.well-known/openid-configuration`;
  const cached = await fromCacheApi(url);
  const response = cached ?? (await fetchFromProvider(url));
  const document: unknown = await response
    .clone()
    .json()
    .catch(() => null);
  const { issuer: named, jwks_uri: jwksUri } = (document ?? {}) as { issuer?: unknown; jwks_uri?: unknown };
  if (named !== issuer) throw DiscoveryError(issuer, "the document names another issuer");
  if (typeof jwksUri !== "string" || !URL.canParse(jwksUri) || !isTrustedTransport(new URL(jwksUri))) {
    throw DiscoveryError(issuer, "no usable jwks_uri");
  }
  if (!cached) await keepForLocation(url, response);
  return jwksUri;
}

function jwksUriOf(provider: OidcProvider): Promise<string> {
  if (provider.jwksUri !== null) return Promise.resolve(provider.jwksUri);
  const known = discovered.get(provider.issuer);
  if (known && Date.now() - known.at < DISCOVERY_MAX_AGE_MS) return known.jwksUri;
  const jwksUri = discoverJwksUri(provider.issuer);
  discovered.set(provider.issuer, { jwksUri, at: Date.now() });
  // A failed discovery is not remembered: the next token asks again.
  jwksUri.catch(() => discovered.delete(provider.issuer));
  return jwksUri;
}

/**
 * jose's key resolver for one provider's tokens. A key set that cannot be fetched or read is
 * `KeySetUnavailable`; a token whose key is not in a good set is jose's own error (a 401).
 */
export function providerKeys(provider: OidcProvider) {
  return async (header: JWSHeaderParameters, token: FlattenedJWSInput) => {
    let url: string;
    try {
      url = await jwksUriOf(provider);
    } catch (err) {
      throw err instanceof KeySetUnavailable ? err : new KeySetUnavailable(String(err));
    }
    try {
      return await keySetFor(url)(header, token);
    } catch (err) {
      if (NOT_THE_KEY_SETS_FAULT.some((kind) => err instanceof kind)) throw err;
      throw err instanceof KeySetUnavailable ? err : new KeySetUnavailable(String(err));
    }
  };
}

/** jose's errors that say the token does not match a good key set (not that the set is missing). */
const NOT_THE_KEY_SETS_FAULT = [
  errors.JWKSNoMatchingKey,
  errors.JWKSMultipleMatchingKeys,
  errors.JOSENotSupported,
  errors.JOSEAlgNotAllowed,
];
