/**
 * What a bearer secret looks like: `<prefix>_<30 random base62 chars><6 base62 chars of CRC32>`. 30 base62
 * characters carry 178 bits of CSPRNG entropy. The prefix names the kind of principal and lets secret
 * scanners recognise a leaked token; the checksum lets the server reject a mistyped or invented one
 * before any KV read (security/secret.ts makes and checks them; the logger masks anything of this shape).
 */

export const SECRET_PREFIXES = {
  identity: "pat", // personal access token of an identity
  api_key: "wsk", // workspace API key
} as const;
export type SecretPrefix = (typeof SECRET_PREFIXES)[keyof typeof SECRET_PREFIXES];

/**
 * Secrets of the sign-in grants (src/routes/identity/): a refresh token and a device code, in the same
 * format, so scanners and the log mask know them too. Never a bearer credential: authentication refuses
 * them before any I/O.
 */
export const GRANT_PREFIXES = { refresh_token: "prt", device_code: "pdc" } as const;
export type GrantPrefix = (typeof GRANT_PREFIXES)[keyof typeof GRANT_PREFIXES];

export const RANDOM_LENGTH = 30;
export const CHECKSUM_LENGTH = 6;

const PREFIX = `(${[...Object.values(SECRET_PREFIXES), ...Object.values(GRANT_PREFIXES)].join("|")})`;
/** A whole secret: its prefix, random part and checksum as groups 1 to 3. */
export const SECRET_PATTERN = new RegExp(`^${PREFIX}_([0-9A-Za-z]{${RANDOM_LENGTH}})([0-9A-Za-z]{${CHECKSUM_LENGTH}})$`);
/** Any secret-shaped run inside a longer text (used to mask logs). */
export const SECRET_IN_TEXT = new RegExp(`\\b${PREFIX}_[0-9A-Za-z]{${RANDOM_LENGTH + CHECKSUM_LENGTH}}\\b`, "g");
