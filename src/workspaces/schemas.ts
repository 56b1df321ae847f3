import { z } from "@hono/zod-openapi";
import { ENVIRONMENTS, type WorkspaceRow } from "../db/schema";

export const SlugStringSchema = z
  .string()
  .min(2)
  .max(63)
  .regex(/^[a-z0-9][a-z0-9-]*[a-z0-9]$/)
  .openapi("SlugString", { description: "Lowercase letters, digits and hyphens; no leading or trailing hyphen.", example: "acme-prod" });

/** Leading and trailing whitespace is stripped before the length check, as upstream does. */
export const StrippedNonemptyStringSchema = z.string().trim().min(1).openapi("StrippedNonemptyString");

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
      "Request body for `POST /v1/me/workspaces`. `region` is not accepted: the workspace is created in the region of the deployment that serves the request. Unknown fields are ignored.",
  });
export type CreateWorkspaceRequest = z.infer<typeof CreateWorkspaceRequestSchema>;

const timestamp = z.iso.datetime({ offset: true });

export const WorkspaceResponseSchema = z
  .object({
    id: z.uuid().openapi({ format: "uuid" }),
    slug: z.string(),
    name: z.string(),
    environment: z.string().openapi({ example: "production" }),
    backend_org_id: z.string().nullable(),
    region: z.string().openapi({ example: "us-east-1" }),
    connector_type: z.string().nullable(),
    provisioned_at: timestamp.nullable(),
    created_at: timestamp,
    updated_at: timestamp,
  })
  .openapi("WorkspaceResponse");
export type WorkspaceResponse = z.infer<typeof WorkspaceResponseSchema>;

/** Parsing the output keeps internal columns (seq, archived_at, creator) out of every response. */
export function toWorkspaceResponse(row: WorkspaceRow): WorkspaceResponse {
  return WorkspaceResponseSchema.parse({
    id: row.id,
    slug: row.slug,
    name: row.name,
    environment: row.environment,
    backend_org_id: row.backendOrgId,
    region: row.region,
    connector_type: row.connectorType,
    provisioned_at: row.provisionedAt,
    created_at: row.createdAt,
    updated_at: row.updatedAt,
  });
}
