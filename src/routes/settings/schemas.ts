import { z } from "@hono/zod-openapi";

/** Upstream's bounds for every `*_days` field, and its default (six years, the HIPAA figure). */
export const RETENTION_DAYS = { min: 365, max: 36500, default: 2190 } as const;

/** Upstream: an integer of days in 365..36500, or null (here: leave it as it is). */
const RetentionDaysSchema = z.union([z.number().int().min(RETENTION_DAYS.min).max(RETENTION_DAYS.max), z.null()]).optional();

export const RetentionPolicyRequestSchema = z
  .object({
    call_recordings_days: RetentionDaysSchema,
    call_transcripts_days: RetentionDaysSchema,
    audit_log_days: RetentionDaysSchema,
    world_events_days: RetentionDaysSchema,
    phi_data_days: RetentionDaysSchema,
    legal_hold: z.union([z.boolean(), z.null()]).optional(),
    legal_hold_reason: z
      .union([z.string().max(2000).openapi("DescriptionString"), z.null()])
      .optional()
      .openapi({ description: "Why the hold is in place; `null` clears it." }),
  })
  .openapi("RetentionPolicyRequest", {
    description:
      "Partial update: only the fields sent change. `null` for a `*_days` field or `legal_hold` leaves it as it is; `null` for " +
      "`legal_hold_reason` clears it. Unknown fields are ignored.",
  });
export type RetentionPolicyRequest = z.infer<typeof RetentionPolicyRequestSchema>;

export const RetentionPolicyResponseSchema = z
  .object({
    call_recordings_days: z.number().int(),
    call_transcripts_days: z.number().int(),
    audit_log_days: z.number().int(),
    world_events_days: z.number().int(),
    phi_data_days: z.number().int(),
    legal_hold: z.boolean(),
    legal_hold_reason: z.string().nullable(),
  })
  .openapi("RetentionPolicyResponse", {
    description:
      "Days each kind of data is kept; a field never set has its default (2190 days, six years; `audit_log_days` the deployment's " +
      "`AUDIT_RETENTION_DAYS`, 2190 unless the operator set another). Only `audit_log_days` is enforced here (this service holds no " +
      "recordings, transcripts, world events or PHI: the others are stored for the services that do). `legal_hold` stops every " +
      "deletion.",
  });
export type RetentionPolicyResponse = z.infer<typeof RetentionPolicyResponseSchema>;
