import { z } from "@hono/zod-openapi";

/** What the approval page's routes take: a code in the query, the form, the sign-in's way out and back. */

export const PageQuerySchema = z.object({ user_code: z.string().max(32).optional() });

export const DecisionFormSchema = z.object({
  user_code: z.string().max(32),
  csrf: z.string().max(4096),
  decision: z.enum(["approve", "deny"]),
});

export const SignInQuerySchema = z.object({ issuer: z.string().max(512), user_code: z.string().max(32).optional() });

/** The provider's answer: `code` and `state`, or `error`; anything else it adds (`iss`, `session_state`) is kept for the checks. */
export const CallbackQuerySchema = z.looseObject({ code: z.string().max(4096).optional(), state: z.string().max(512).optional() });
