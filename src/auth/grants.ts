import type { MembershipRole } from "../core/domain";
import { ApiError } from "../core/errors";
import type { WorkspaceAccess } from "./authorize";
import { roleOutranks } from "./roles";

/**
 * What a caller may hand out or act on, beyond holding the permission itself: nothing above its own
 * role, and no permission it does not hold. Every route that grants (keys, members, invitations; role grants
 * later) checks these.
 */

/** Nobody creates, rotates or deletes something whose role is above their own. */
export function assertRoleCeiling(access: WorkspaceAccess, role: MembershipRole, action: string) {
  if (roleOutranks(role, access.role)) {
    throw new ApiError("forbidden", `Cannot ${action} a key with role '${role}': it exceeds your role '${access.role}'.`);
  }
}

/** Nobody invites anyone, or changes a member's role, to a role above their own. */
export function assertMayGrantRole(access: WorkspaceAccess, role: MembershipRole) {
  if (roleOutranks(role, access.role)) {
    throw new ApiError("forbidden", `Cannot grant the role '${role}': it exceeds your role '${access.role}'.`);
  }
}

/** Nobody changes or removes a member (or revokes an invitation) whose role is above their own: an admin cannot touch an owner. */
export function assertMayManageMember(access: WorkspaceAccess, memberRole: MembershipRole, what = "a member") {
  if (roleOutranks(memberRole, access.role)) {
    throw new ApiError("forbidden", `Cannot change or remove ${what} with role '${memberRole}': it exceeds your role '${access.role}'.`);
  }
}

/** Nobody grants a permission they do not hold themselves. */
export function assertHoldsPermissions(access: WorkspaceAccess, permissions: readonly string[]) {
  const notHeld = permissions.filter((p) => !(access.permissions as readonly string[]).includes(p));
  if (notHeld.length > 0) throw new ApiError("forbidden", `Cannot grant permissions you do not hold: ${notHeld.join(", ")}.`);
}
