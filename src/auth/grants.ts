import type { MembershipRole } from "../core/domain";
import { ApiError } from "../core/errors";
import type { WorkspaceAccess } from "./authorize";
import { roleOutranks } from "./roles";

/**
 * What a caller may hand out or act on, beyond holding the permission itself: nothing above its own
 * role, and no permission it does not hold. Every route that grants (keys, members, invitations; role grants
 * later) checks these.
 */

/**
 * The one rule for every key operation that hands out or destroys a secret (create, rotate, delete): the
 * caller could have created that key. Its role is not above the caller's, and the caller holds every
 * permission it carries: a key holding only `ApiKey.rotate` cannot take the secret of a key that may do more.
 */
export function assertCouldCreateKey(
  access: WorkspaceAccess,
  key: { role: MembershipRole; permissions: readonly string[] },
  action: "create" | "rotate" | "delete",
) {
  if (roleOutranks(key.role, access.role)) {
    throw new ApiError("forbidden", `Cannot ${action} a key with role '${key.role}': it exceeds your role '${access.role}'.`);
  }
  const notHeld = key.permissions.filter((p) => !(access.permissions as readonly string[]).includes(p));
  if (notHeld.length > 0) {
    const what = action === "create" ? "grant permissions" : `${action} a key holding permissions`;
    throw new ApiError("forbidden", `Cannot ${what} you do not hold: ${notHeld.join(", ")}.`);
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
