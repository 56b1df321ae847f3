import { z } from "@hono/zod-openapi";
import { createMiddleware } from "hono/factory";
import type { MembershipRole } from "../core/domain";
import type { AppContext, AppEnv, Claim } from "../core/env";
import { ApiError, ERRORS, PresetAnswer, validationError } from "../core/errors";
import { bestEffort } from "../core/logger";
import { accountableOf } from "../core/principal";
import { sha256Hex } from "../security/secret";
import { requiredServerSecret } from "../security/server-secret";
import { finish, IDEMPOTENCY_KEYS_PER_CALLER, release, reserve, sealAnswer } from "../storage/idempotency-records";
import { toValidationItems } from "./validation";

/** The methods an `Idempotency-Key` applies to (under /v1). */
export const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(["POST", "PUT", "PATCH", "DELETE"]);

export const IDEMPOTENCY_KEY_HEADER = "Idempotency-Key";
/** 1 to 255 printable ASCII characters (a UUID is the usual choice). */
export const IdempotencyKeySchema = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[\x20-\x7E]+$/);

/**
 * Whose the key is: an identity (whichever of its tokens), or one API key (across rotations) in the hands of
 * one person (a rotation by someone else hands the key over, not what its previous holder did with it); and
 * the caller's role in the workspace, so a retry after the role changed runs as a first attempt, refused
 * as one would be, instead of replaying what the former role obtained.
 */
function scopeOf(c: AppContext, role: MembershipRole | null): string {
  const principal = c.get("principal");
  const who =
    principal.type === "identity" ? `identity:${principal.identity_id}` : `api_key:${principal.id}:${accountableOf(principal) ?? "none"}`;
  return role === null ? who : `${who}:${role}`;
}

/**
 * The person a key's records count against (IDEMPOTENCY_KEYS_PER_CALLER): the identity, or the person
 * accountable for the API key, so the keys a person makes share their room; a key with no one behind it
 * (it only reads, and reads take no record) counts on its own.
 */
function holderOf(c: AppContext): string {
  const principal = c.get("principal");
  if (principal.type === "identity") return principal.identity_id;
  return accountableOf(principal) ?? `api_key:${principal.id}`;
}

/** The header as a 422 names it: `loc` `["header", "Idempotency-Key"]`. */
const IdempotencyHeader = z.object({ [IDEMPOTENCY_KEY_HEADER]: IdempotencyKeySchema });

/**
 * Stripe's semantics for every POST, PUT, PATCH and DELETE under /v1 that carries an `Idempotency-Key`:
 * the first request runs and its answer is kept 24 hours under (principal, key); a retry of the same
 * request (method, path and query, body bytes) gets that answer again with `Idempotent-Replayed: true`;
 * the same key on another request is 422 `idempotency_key_reused`; a retry while the first still runs is
 * 409 `idempotency_key_in_use`. An answer of 5xx, 429, 401, 403 or 409 `export_in_progress` is not kept:
 * the key is freed and a retry runs. Mounted for IDEMPOTENT_METHODS only (app.ts).
 *
 * Nothing of that happens before the request is authorised exactly as a first attempt would be (scope,
 * permission, membership: auth/authorize.ts calls `onAuthorized`): a refused request stores no record, and
 * a credential that may not make the request never receives what another stored (a read-only token of the
 * same person replaying a key's creation gets the 403 a first attempt gets, not the secret).
 */
export const idempotency = createMiddleware<AppEnv>(async (c, next) => {
  const key = c.req.header(IDEMPOTENCY_KEY_HEADER);
  if (key === undefined) return next();
  const checked = IdempotencyHeader.safeParse({ [IDEMPOTENCY_KEY_HEADER]: key });
  if (!checked.success) throw validationError(toValidationItems(checked.error.issues, "header", { [IDEMPOTENCY_KEY_HEADER]: key }));

  let reserving: Promise<void> | undefined;
  c.set("onAuthorized", (role) => {
    reserving ??= reserveOrReplay(c, key, role);
    return reserving;
  });
  await next();
  const claim = c.get("idempotency");
  if (claim) await keepAnswer(c, claim);
});

/** The key's reservation for this request (then the `idempotency` variable holds it), or the answer a retry gets instead (thrown). */
async function reserveOrReplay(c: AppContext, key: string, role: MembershipRole | null): Promise<void> {
  const { db } = c.get("storage");
  const url = new URL(c.req.url);
  const serverSecret = requiredServerSecret(
    c.env.IDEMPOTENCY_SECRET,
    "IDEMPOTENCY_SECRET",
    "Idempotency-Key is not available on this deployment right now; retry without it or later.",
  );
  const [keyHash, fingerprint] = await Promise.all([
    sha256Hex(key),
    sha256Hex(`${c.req.method} ${url.pathname}${url.search}\n${await c.req.text()}`),
  ]);
  const sealing = { serverSecret, idempotencyKey: key, scope: scopeOf(c, role), keyHash };
  const reservation = await reserve(db, { sealing, fingerprint, holder: holderOf(c) });
  switch (reservation.outcome) {
    case "full":
      throw new ApiError(
        "quota_exceeded",
        `You hold ${IDEMPOTENCY_KEYS_PER_CALLER.toLocaleString("en-US")} Idempotency-Keys from the last 24 hours (your tokens and the ` +
          "API keys you hold together), the most you may: send this request without an Idempotency-Key, or with one once older keys " +
          "expire (24 hours after their request).",
      );
    case "run":
      c.set("idempotency", reservation.claim);
      return;
    case "reused":
      throw new ApiError("idempotency_key_reused", ERRORS.idempotency_key_reused.doc, {
        items: [
          {
            loc: ["header", IDEMPOTENCY_KEY_HEADER],
            msg: "This Idempotency-Key was used for a different request (method, path or body); use a new key for a new request",
            type: "idempotency_key_reused",
            input: key,
          },
        ],
      });
    case "in_use":
      throw new ApiError("idempotency_key_in_use", "A request with this Idempotency-Key is still running; retry after it finishes.");
    case "unreadable":
      throw new ApiError(
        "conflict",
        "This Idempotency-Key's request already ran, and its answer cannot be read back (the server's sealing secret changed); it is " +
          "not run again. Read the resource, or use a new key.",
      );
    case "replay": {
      const headers: Record<string, string> = { "Idempotent-Replayed": "true" };
      if (reservation.text !== null) headers["Content-Type"] = "application/json";
      throw new PresetAnswer(new Response(reservation.text, { status: reservation.status, headers }));
    }
  }
}

/**
 * Answers that are not kept: failures (a retry may succeed) and refusals (nothing is stored for a request that
 * was refused), among them a 409 `export_in_progress`, which the other export's end lifts.
 */
async function isNotKept(res: Response): Promise<boolean> {
  const { status } = res;
  if (status >= 500 || status === 429 || status === 401 || status === 403) return true;
  if (status !== 409) return false;
  const body = (await res
    .clone()
    .json()
    .catch(() => null)) as { error_code?: string } | null;
  return body?.error_code === "export_in_progress";
}

/**
 * After the handler: frees the key on an answer that is not kept; otherwise stores the answer (or, if the write's own
 * batch stored exactly this one, keeps it) and lets retries replay it. A failure here is logged and the
 * answer still goes out (the write is done): the record then stays running until its lease ends.
 */
async function keepAnswer(c: AppContext, claim: Claim): Promise<void> {
  const { db, logger } = c.get("storage");
  const status = c.res.status;
  if (await isNotKept(c.res)) {
    await bestEffort(logger, "free an idempotency key", () => release(db, claim));
    return;
  }
  const text = status === 204 ? null : await c.res.clone().text();
  const keptByBatch = claim.stored?.status === status && claim.stored.text === text;
  await bestEffort(logger, "store an idempotent answer", async () => {
    await finish(db, claim, keptByBatch ? undefined : { status, sealedBody: await sealAnswer(claim, text) });
  });
}
