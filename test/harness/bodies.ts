/**
 * The response bodies tests read, each the type of the schema the route declares: a test that names one
 * fails to compile when the schema changes under it.
 */
import type { z } from "@hono/zod-openapi";
import type {
  CreateIdentityResponseSchema,
  EnableIdentityResponseSchema,
  IdentityListResponseSchema,
  ReleasedSlugResponseSchema,
} from "../../src/routes/admin/schemas";
import type {
  CreateApiKeyResponseSchema,
  PaginatedApiKeysSchema,
  PermissionCatalogResponseSchema,
} from "../../src/routes/api-keys/schemas";
import type {
  AuditEventsListResponseSchema,
  AuditExportListResponseSchema,
  AuditExportResponseSchema,
  OperatorAuditEventsListResponseSchema,
} from "../../src/routes/audit/schemas";
import type { AccessReviewResponseSchema } from "../../src/routes/compliance/schemas";
import type {
  AssignmentsListSchema,
  ExternalRoleAssignmentItemSchema,
  ExternalRoleItemSchema,
  ExternalRolesListSchema,
} from "../../src/routes/external-roles/schemas";
import type {
  InvitationResponseSchema,
  PaginatedInvitationsSchema,
  PaginatedMyInvitationsSchema,
} from "../../src/routes/invitations/schemas";
import type { MemberResponseSchema, PaginatedMembersSchema } from "../../src/routes/members/schemas";
import type { RoleGrantItemSchema, RoleGrantsListSchema } from "../../src/routes/role-grants/schemas";
import type { RetentionPolicyResponseSchema } from "../../src/routes/settings/schemas";
import type { AuthInfoResponseSchema, IdentityResponseSchema } from "../../src/routes/whoami/schemas";
import type {
  EnvironmentCheckResponseSchema,
  PaginatedWorkspacesSchema,
  ProvisionResponseSchema,
  TestCallerNumbersResponseSchema,
  WorkspaceResponseSchema,
} from "../../src/routes/workspaces/schemas";

export type Identity = z.infer<typeof CreateIdentityResponseSchema>;
export type IdentityList = z.infer<typeof IdentityListResponseSchema>;
export type EnabledIdentity = z.infer<typeof EnableIdentityResponseSchema>;
export type ReleasedSlug = z.infer<typeof ReleasedSlugResponseSchema>;
export type Workspace = z.infer<typeof WorkspaceResponseSchema>;
export type WorkspacePage = z.infer<typeof PaginatedWorkspacesSchema>;
export type Provisioned = z.infer<typeof ProvisionResponseSchema>;
export type EnvironmentCheck = z.infer<typeof EnvironmentCheckResponseSchema>;
export type TestCallerNumbers = z.infer<typeof TestCallerNumbersResponseSchema>;
export type CreatedApiKey = z.infer<typeof CreateApiKeyResponseSchema>;
export type ApiKeyPage = z.infer<typeof PaginatedApiKeysSchema>;
export type PermissionCatalog = z.infer<typeof PermissionCatalogResponseSchema>;
export type AuthInfo = z.infer<typeof AuthInfoResponseSchema>;
export type MyIdentity = z.infer<typeof IdentityResponseSchema>;
export type Member = z.infer<typeof MemberResponseSchema>;
export type MemberPage = z.infer<typeof PaginatedMembersSchema>;
export type Invitation = z.infer<typeof InvitationResponseSchema>;
export type InvitationPage = z.infer<typeof PaginatedInvitationsSchema>;
export type MyInvitationPage = z.infer<typeof PaginatedMyInvitationsSchema>;
export type ExternalRole = z.infer<typeof ExternalRoleItemSchema>;
export type ExternalRolePage = z.infer<typeof ExternalRolesListSchema>;
export type Assignment = z.infer<typeof ExternalRoleAssignmentItemSchema>;
export type AssignmentPage = z.infer<typeof AssignmentsListSchema>;
export type RoleGrant = z.infer<typeof RoleGrantItemSchema>;
export type RoleGrantPage = z.infer<typeof RoleGrantsListSchema>;
export type AccessReview = z.infer<typeof AccessReviewResponseSchema>;
export type AuditEventPage = z.infer<typeof AuditEventsListResponseSchema>;
export type OperatorAuditEventPage = z.infer<typeof OperatorAuditEventsListResponseSchema>;
export type AuditExport = z.infer<typeof AuditExportResponseSchema>;
export type AuditExportList = z.infer<typeof AuditExportListResponseSchema>;
export type RetentionPolicy = z.infer<typeof RetentionPolicyResponseSchema>;

/** A JSON Schema as the tests walk it: the keywords they read, typed; any other keyword, unknown. */
export type JsonSchema = {
  $ref?: string;
  type?: string | string[];
  format?: string;
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minItems?: number;
  maxItems?: number;
  required?: string[];
  properties?: Record<string, JsonSchema>;
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  [keyword: string]: unknown;
};

type OpenApiParameter = { name: string; in: string; required?: boolean; description?: string; schema: JsonSchema };
type OpenApiResponse = {
  description: string;
  headers?: Record<string, { description?: string; schema: JsonSchema }>;
  content?: Record<string, { schema: JsonSchema }>;
};
export type OpenApiOperation = {
  operationId: string;
  summary: string;
  description?: string;
  tags?: string[];
  security?: Record<string, string[]>[];
  parameters?: OpenApiParameter[];
  requestBody?: { required?: boolean; content: Record<string, { schema: JsonSchema }> };
  responses: Record<string, OpenApiResponse>;
};
/** An OpenAPI document: the served /doc (upstream's, in test/contract/upstream.json, has only paths and components). */
export type OpenApiDoc = {
  openapi: string;
  info: { title: string; version: string; description: string };
  servers: { url: string; description: string }[];
  tags: { name: string; description: string }[];
  security: Record<string, string[]>[];
  paths: Record<string, Record<string, OpenApiOperation>>;
  components: {
    schemas: Record<string, JsonSchema>;
    securitySchemes: Record<string, { type: string; scheme: string; description: string }>;
  };
};
/** An upstream extract, reduced to facts (test/contract/upstream.json). */
export type UpstreamDoc = Pick<OpenApiDoc, "paths"> & { components: Pick<OpenApiDoc["components"], "schemas"> };
