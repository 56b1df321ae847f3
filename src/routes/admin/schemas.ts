import { z } from "@hono/zod-openapi";
import { SCOPES } from "../../core/domain";
import { IdentityProfileSchema } from "../../core/principal";
import { Timestamp, Uuid } from "../../http/openapi";
import { PaginationQuerySchema } from "../../storage/pagination";

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

/** Unnamed, so that the enable answer extends it with its own fields rather than an allOf of a named schema. */
const identityFields = IdentityProfileSchema.extend({
  identity_id: Uuid,
  email_verified: z.boolean().openapi({
    description:
      "True for a personal-token identity (the operator vouched for it), and for a provider's person whose latest token said " +
      "`email_verified: true` (or whose provider is configured with `emails_verified`). An unverified email matches no invitation.",
  }),
  sign_in: z.enum(["personal_token", "identity_provider"]).openapi({
    description: "How the identity signs in: personal access tokens minted here, or its identity provider's tokens.",
  }),
  issuer: z.string().nullable().openapi({ description: "The identity provider (its `iss`); null for personal tokens." }),
  created_at: Timestamp,
  revoked_at: Timestamp.nullable().openapi({ description: "When it was revoked (none of its tokens work); null while enabled." }),
});
const IdentityListItemSchema = identityFields.openapi("IdentityListItem");
export type IdentityListItem = z.infer<typeof IdentityListItemSchema>;

export const IdentityListQuerySchema = z.object({
  email: z.email().max(320).optional().openapi({ description: "Only identities with this email (compared case-insensitively)." }),
  limit: PaginationQuerySchema.shape.limit,
  continuation_token: z
    .string()
    .min(1)
    .max(1024)
    .regex(/^[A-Za-z0-9+/=_-]+$/)
    .optional()
    .openapi({
      description:
        "From the previous page's `continuation_token`, as given; absent for the first page. It is the key store's own cursor: " +
        "one that did not come from this list may be answered with 503.",
    }),
});

export const IdentityListResponseSchema = z
  .object({
    items: z.array(IdentityListItemSchema),
    has_more: z.boolean(),
    continuation_token: z
      .string()
      .nullable()
      .openapi({
        description:
          "Pass as `continuation_token` for the next page (an opaque string: this list pages through the global key store); null on " +
          "the last page.",
      }),
  })
  .openapi("IdentityListResponse");

export const EnableIdentityResponseSchema = identityFields
  .extend({
    token: z
      .string()
      .nullable()
      .openapi({
        description:
          "A new personal access token, when a revoked personal-token identity was enabled (its old tokens stay revoked); shown only in " +
          "this response. Null for a provider's identity, and when the identity was not revoked.",
      }),
  })
  .openapi("EnableIdentityResponse");

export const ReleasedSlugResponseSchema = z
  .object({
    workspace_id: Uuid,
    slug: z.string().openapi({ description: "The slug given back: any region may now create a workspace with it." }),
    slug_released_at: Timestamp.openapi({ description: "When it was released (the first release: a repeat answers the same)." }),
  })
  .openapi("ReleasedSlugResponse");
