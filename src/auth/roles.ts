/**
 * Roles and permissions: the only place they are defined. The permission catalog route serves this
 * table, the README documents it, and every authorisation decision reads it.
 */
import { MEMBERSHIP_ROLES, type MembershipRole } from "../core/domain";

export const PERMISSIONS = [
  "Workspace.view",
  "Workspace.update",
  "Workspace.archive",
  "Workspace.convert",
  "ApiKey.view",
  "ApiKey.create",
  "ApiKey.rotate",
  "ApiKey.delete",
  "Audit.view",
  "Audit.export",
  "Member.view",
  "Member.manage",
  "ExternalRole.view",
  "ExternalRole.manage",
  "RoleGrant.view",
  "RoleGrant.manage",
  "Compliance.view",
] as const;
export type Permission = (typeof PERMISSIONS)[number];

type RoleDefinition = { priority: number; description: string; permissions: readonly Permission[] };

/** Higher priority = more authority. A caller can never grant (mint a key with) a role above its own. */
export const ROLES: Record<MembershipRole, RoleDefinition> = {
  owner: {
    priority: 400,
    description: "Full control, including archiving the workspace.",
    permissions: PERMISSIONS,
  },
  admin: {
    priority: 300,
    description:
      "Manages the workspace, all API keys and the members up to admin, reads and exports the audit trail; cannot archive the workspace or change an owner.",
    permissions: PERMISSIONS.filter((permission) => permission !== "Workspace.archive"),
  },
  member: {
    priority: 200,
    description: "Uses the workspace and creates API keys up to its own role.",
    permissions: ["Workspace.view", "ApiKey.view", "ApiKey.create", "ExternalRole.view", "RoleGrant.view"],
  },
  viewer: {
    priority: 100,
    description: "Read-only access.",
    permissions: ["Workspace.view", "ApiKey.view", "ExternalRole.view", "RoleGrant.view"],
  },
};

export function isPermission(name: string): name is Permission {
  return (PERMISSIONS as readonly string[]).includes(name);
}

export function roleOutranks(role: MembershipRole, other: MembershipRole): boolean {
  return ROLES[role].priority > ROLES[other].priority;
}

/** The catalog as upstream's `PermissionCatalogResponse` shapes it. */
export function permissionCatalog() {
  return {
    roles: MEMBERSHIP_ROLES.map((name) => ({
      name,
      priority: ROLES[name].priority,
      description: ROLES[name].description,
      permission_names: [...ROLES[name].permissions],
    })),
    permissions: PERMISSIONS.map((name) => {
      const [namespace, action] = name.split(".") as [string, string];
      return { name, namespace, action };
    }),
  };
}
