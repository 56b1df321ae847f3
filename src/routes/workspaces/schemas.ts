import { z } from "@hono/zod-openapi";
import { CONNECTOR_TYPES, CONVERSION_TARGETS, ENVIRONMENTS, REGIONS } from "../../core/domain";
import { rowResponse, Timestamp, Uuid } from "../../http/openapi";
import { paginatedSchema } from "../../storage/pagination";

const SlugStringSchema = z
  .string()
  .min(2)
  .max(63)
  .regex(/^[a-z0-9][a-z0-9-]*[a-z0-9]$/)
  .openapi("SlugString", { description: "Lowercase letters, digits and hyphens; no leading or trailing hyphen.", example: "acme-prod" });

/** Leading and trailing whitespace is stripped before the length check, as upstream does. */
/** Upstream leaves these unbounded; 256 characters here (docs/decisions/0020-input-bounds.md). */
const StrippedNonemptyStringSchema = z.string().trim().min(1).max(256).openapi("StrippedNonemptyString");

export const CreateWorkspaceRequestSchema = z
  .object({
    slug: SlugStringSchema,
    name: StrippedNonemptyStringSchema.openapi({ example: "Acme Production" }),
    environment: z.enum(ENVIRONMENTS).openapi({ title: "Environment" }),
    // A union rather than .nullable() so the spec says anyOf [StrippedNonemptyString, null], as upstream does.
    backend_org_id: z.union([StrippedNonemptyStringSchema, z.null()]).optional(),
  })
  .openapi("CreateWorkspaceRequest", {
    description:
      "Request body for `POST /v1/me/workspaces`. `region` is not accepted: the workspace is created in the region of the deployment " +
      "that serves the request. Unknown fields are ignored.",
  });
export type CreateWorkspaceRequest = z.infer<typeof CreateWorkspaceRequestSchema>;

export const WorkspaceResponseSchema = z
  .object({
    id: Uuid,
    slug: z.string(),
    name: z.string(),
    environment: z.string().openapi({ example: "production" }),
    backend_org_id: z.string().nullable(),
    region: z.string().openapi({ example: "us-east-1" }),
    connector_type: z.string().nullable(),
    provisioned_at: Timestamp.nullable(),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .openapi("WorkspaceResponse");

export const PaginatedWorkspacesSchema = paginatedSchema(WorkspaceResponseSchema, "PaginatedResponse_WorkspaceResponse_");

/** Only the declared fields: internal columns (seq, archived_at, creator) stay out of every response. */
export const toWorkspaceResponse = rowResponse(WorkspaceResponseSchema);

/**
 * Only the fields sent are applied. `null` for name or environment means "unchanged" (as upstream's
 * Optional fields do); `null` for connector_type clears it. `region` is immutable: sending it is 422.
 */
export const UpdateWorkspaceRequestSchema = z
  .object({
    name: z.union([StrippedNonemptyStringSchema, z.null()]).optional(),
    environment: z
      .union([z.enum(ENVIRONMENTS), z.null()])
      .optional()
      .openapi({
        description: "May only repeat the current value; changing it goes through `POST .../convert-environment` (422 otherwise).",
      }),
    region: z
      .union([z.enum(REGIONS), z.null()])
      .optional()
      .refine((value) => value === undefined, { message: "region is immutable: a workspace cannot move between regions" })
      .openapi({ description: "Immutable. Present in the upstream schema (the regions, or null); any value is rejected with 422." }),
    connector_type: z
      .union([z.enum(CONNECTOR_TYPES), z.null()])
      .optional()
      .openapi({ description: "`null` clears it." }),
  })
  .openapi("UpdateWorkspaceRequest");
export type UpdateWorkspaceRequest = z.infer<typeof UpdateWorkspaceRequestSchema>;

export const ArchiveWorkspaceRequestSchema = z.object({ slug: SlugStringSchema }).openapi("ArchiveWorkspaceRequest");

export const ConvertEnvironmentRequestSchema = z
  .object({ target: z.enum(CONVERSION_TARGETS), confirm_slug: SlugStringSchema })
  .openapi("ConvertEnvironmentRequest");
export type ConvertEnvironmentRequest = z.infer<typeof ConvertEnvironmentRequestSchema>;

export const EnvironmentCheckQuerySchema = z.object({
  target: z.enum(CONVERSION_TARGETS).default("production"),
});

export const EnvironmentCheckResponseSchema = z
  .object({ current: z.string(), target: z.string(), warnings: z.array(z.string()) })
  .openapi("EnvironmentCheckResponse");

export const ProvisionResponseSchema = z.object({ workspace: WorkspaceResponseSchema }).openapi("ProvisionResponse");

/** E.164: a plus sign, a non-zero digit, at most 15 digits in all (docs/decisions/0005-stricter-than-upstream.md). */
const E164 = /^\+[1-9]\d{1,14}$/;
const E164_RULE =
  "An E.164 phone number: '+', then 2 to 15 digits (country code first, no leading 0), no spaces or punctuation, e.g. '+14155550123'";

export const TestCallerNumbersRequestSchema = z
  .object({
    numbers: z
      .array(
        z
          .string()
          .max(16)
          .regex(E164, E164_RULE)
          .openapi({ example: "+14155550123", description: `${E164_RULE}.` }),
      )
      .max(100),
  })
  .openapi("TestCallerNumbersRequest");
export const TestCallerNumbersResponseSchema = z.object({ numbers: z.array(z.string()) }).openapi("TestCallerNumbersResponse");

export const TestCredentialIdsRequestSchema = z.object({ credential_ids: z.array(Uuid).max(100) }).openapi("TestCredentialIdsRequest");
export const TestCredentialIdsResponseSchema = z.object({ credential_ids: z.array(Uuid) }).openapi("TestCredentialIdsResponse");
