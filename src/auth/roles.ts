/**
 * Roles and permissions: the only place they are defined. The permission catalog route serves this
 * table, docs/guides/api-keys-and-roles.md documents it, and every authorisation decision reads it.
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

/** `*.view` permissions read; every other permission changes something. */
export const isRead = (permission: Permission) => permission.endsWith(".view");

/**
 * Reads that cost like a write (a full read of the workspace's credentials): each counts against the
 * workspace's write limit, as every write does.
 */
const COSTLY_READS: readonly Permission[] = ["Compliance.view"];

/**
 * Whether a request using `permission` counts against its workspace's write limit: every write, and the
 * costly reads. A GET under a permission that is not a `.view` one (list-audit-exports and get-audit-export
 * under `Audit.export`, which clients poll while an export is written) changes nothing, so it does not count.
 */
export function countsAsWrite(permission: Permission, method: string): boolean {
  if (COSTLY_READS.includes(permission)) return true;
  return !isRead(permission) && method !== "GET" && method !== "HEAD";
}

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
      "Manages the workspace, all API keys and the members up to admin, reads and exports the audit trail; cannot archive the " +
      "workspace or change an owner.",
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

/** The roles above `role`. */
export const rolesAbove = (role: MembershipRole) => MEMBERSHIP_ROLES.filter((other) => roleOutranks(other, role));

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
