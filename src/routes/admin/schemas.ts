import { z } from "@hono/zod-openapi";
import { SCOPES } from "../../core/domain";
import { IdentityProfileSchema } from "../../core/principal";
import { Timestamp, Uuid } from "../../http/openapi";

export const CreateIdentityRequestSchema = z
  .object({
    email: z.email().max(320).openapi({ example: "ada@example.com" }),
    display_name: z.string().trim().min(1).max(256).nullable().optional().openapi({ example: "Ada Lovelace" }),
    scopes: z
      .array(z.enum(SCOPES))
      .max(SCOPES.length * 4)
      .optional()
      .openapi({ description: 'Defaults to `["workspaces:read", "workspaces:write"]`. Duplicates are dropped.' }),
  })
  .openapi("CreateIdentityRequest");
export type CreateIdentityRequest = z.infer<typeof CreateIdentityRequestSchema>;

export const CreateIdentityResponseSchema = IdentityProfileSchema.extend({
  identity_id: Uuid,
  token: z.string().openapi({ description: "The identity's personal access token (`pat_…`). Shown only in this response." }),
  created_at: Timestamp,
}).openapi("CreateIdentityResponse");

export const IdentityIdParamsSchema = z.object({
  identity_id: Uuid.openapi({ param: { name: "identity_id", in: "path" } }),
});
