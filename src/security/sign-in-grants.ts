import { SCOPES, type Scope } from "../core/domain";

/**
 * The pieces of the sign-in grants that hold no state: user codes, scopes, the OAuth error, the lifetimes
 * (decision 0040).
 */

/** A request waits this long for its person (RFC 8628 suggests 10 to 30 minutes; GitHub's is 15). */
export const DEVICE_CODE_LIFETIME_SECONDS = 10 * 60;
/** The poller's first interval, RFC 8628's default. */
export const POLL_INTERVAL_SECONDS = 5;
/** A refresh token unused this long is dead: the person signs in again. */
export const REFRESH_IDLE_SECONDS = 30 * 24 * 60 * 60;
/**
 * However it is used, a sign-in ends this long after its approval, as an API key does at the latest: a
 * person removed at their identity provider (and not disabled here) keeps no terminal signed in beyond it.
 */
export const SIGN_IN_MAX_SECONDS = 90 * 24 * 60 * 60;

/**
 * What the page shows of text the requester chose (the program's description, its User-Agent): control,
 * format (bidi overrides, zero-width), private-use and other invisible (default-ignorable) characters made
 * spaces, so that nothing on the page is hidden or reordered. Null when nothing is left.
 */
export function shownText(text: string | null | undefined): string | null {
  const cleaned = text
    ?.replace(/[\p{Cc}\p{Cf}\p{Co}\p{Default_Ignorable_Code_Point}\u2800]/gu, " ")
    .replace(/\s+/g, " ")
    .trim();
  return cleaned ? cleaned : null;
}

/** 20 consonants: no vowels (no words), no 0/O, 1/I/L, 2/Z, 5/S, 8/B look-alikes to mistype. 20^8 ≈ 2.6·10^10 codes. */
const USER_CODE_ALPHABET = "CDFGHJKMNPQRTVWXY346";
const USER_CODE_LENGTH = 8;

/** A new user code, uniformly drawn, as the person sees it: `XXXX-XXXX`. */
export function newUserCode(): string {
  let code = "";
  while (code.length < USER_CODE_LENGTH) {
    for (const byte of crypto.getRandomValues(new Uint8Array(16))) {
      // 240 = 12 * 20: rejecting the top 16 byte values keeps every character equally likely.
      if (byte < 240 && code.length < USER_CODE_LENGTH) code += USER_CODE_ALPHABET[byte % USER_CODE_ALPHABET.length];
    }
  }
  return `${code.slice(0, 4)}-${code.slice(4)}`;
}

/**
 * What a person typed, as stored (its hash is looked up): upper-cased, spaces and dashes dropped; null when
 * it cannot be a user code at all (then nothing is looked up).
 */
export function normalizedUserCode(typed: string): string | null {
  const code = typed.toUpperCase().replace(/[\s-]/g, "");
  if (code.length !== USER_CODE_LENGTH) return null;
  for (const char of code) if (!USER_CODE_ALPHABET.includes(char)) return null;
  return code;
}

/** OpenID Connect's own scopes: accepted and ignored, so a generic OAuth client that sends them still signs in. */
const IGNORED_SCOPES = new Set(["openid", "profile", "email", "offline_access"]);

/** The scopes a `scope` parameter asks for (null: none named, i.e. every scope the person has), or an unknown one. */
export function requestedScopes(scope: string | undefined): { scopes: Scope[] | null } | { unknown: string } {
  const names = (scope ?? "").split(" ").filter((name) => name !== "" && !IGNORED_SCOPES.has(name));
  const unknown = names.find((name) => !(SCOPES as readonly string[]).includes(name));
  if (unknown !== undefined) return { unknown };
  return { scopes: names.length === 0 ? null : [...new Set(names as Scope[])] };
}

/** A scope string as stored and answered: in SCOPES' order, space-separated. */
export const scopeString = (scopes: readonly Scope[]) => SCOPES.filter((scope) => scopes.includes(scope)).join(" ");

/** The scopes of a stored scope string. */
export const scopesOf = (scope: string) => SCOPES.filter((name) => scope.split(" ").includes(name));
