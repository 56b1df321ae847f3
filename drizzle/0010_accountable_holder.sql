CREATE TABLE `identity_revocation_sweeps` (
	`identity_id` text PRIMARY KEY NOT NULL,
	`revoked_before` text,
	`swept_at` text NOT NULL
);
--> statement-breakpoint
ALTER TABLE `api_keys` ADD `accountable_entity_id` text;--> statement-breakpoint
ALTER TABLE `api_keys` ADD `secret_issued_at` text DEFAULT '1970-01-01T00:00:00.000Z' NOT NULL;--> statement-breakpoint
CREATE INDEX `api_keys_accountable_idx` ON `api_keys` (`accountable_entity_id`,`workspace_id`);--> statement-breakpoint
CREATE INDEX `invitations_inviter_idx` ON `invitations` (`invited_by_entity_id`,`workspace_id`);--> statement-breakpoint
-- Until now the person accountable for a key was its creator, and its secret was issued when it was made or
-- last rotated (a live key's updated_at).
UPDATE `api_keys` SET `accountable_entity_id` = `created_by_entity_id`, `secret_issued_at` = `updated_at`;--> statement-breakpoint
-- The role ceiling at every moment, now on the person accountable for the key (whoever received its secret):
-- no key is inserted by a person whose membership role, as it stands when the statement runs, may not create
-- keys (owner, admin, member) or is below the key's, nor handed to a person by a rotation whose role may not
-- rotate keys (owner, admin) or is below the key's (src/auth/roles.ts; a test checks these lists). A
-- demotion or removal revokes that person's keys above the new role in its own batch; these make a create or
-- a rotation that read the old role and commits after that batch fail ('accountable_role_exceeded': 403)
-- instead of leaving a key above the ceiling. Roles' permission sets are nested (checked by a test), so the
-- role covers the key's permissions. Keys without an accountable person are not affected.
DROP TRIGGER IF EXISTS `api_keys_within_creator_role`;--> statement-breakpoint
CREATE TRIGGER `api_keys_within_accountable_role` BEFORE INSERT ON `api_keys`
WHEN NEW.`accountable_entity_id` IS NOT NULL AND NOT EXISTS (
  SELECT 1 FROM `memberships` m
  WHERE m.`workspace_id` = NEW.`workspace_id` AND m.`identity_id` = NEW.`accountable_entity_id`
    AND m.`role` IN ('owner', 'admin', 'member')
    AND (CASE m.`role` WHEN 'owner' THEN 400 WHEN 'admin' THEN 300 WHEN 'member' THEN 200 ELSE 100 END)
      >= (CASE NEW.`role` WHEN 'owner' THEN 400 WHEN 'admin' THEN 300 WHEN 'member' THEN 200 ELSE 100 END)
)
BEGIN
  SELECT RAISE(ABORT, 'accountable_role_exceeded');
END;--> statement-breakpoint
CREATE TRIGGER `api_keys_handed_within_accountable_role` BEFORE UPDATE OF `accountable_entity_id` ON `api_keys`
WHEN NEW.`accountable_entity_id` IS NOT NULL AND NEW.`revoked_at` IS NULL AND NOT EXISTS (
  SELECT 1 FROM `memberships` m
  WHERE m.`workspace_id` = NEW.`workspace_id` AND m.`identity_id` = NEW.`accountable_entity_id`
    AND m.`role` IN ('owner', 'admin')
    AND (CASE m.`role` WHEN 'owner' THEN 400 WHEN 'admin' THEN 300 WHEN 'member' THEN 200 ELSE 100 END)
      >= (CASE NEW.`role` WHEN 'owner' THEN 400 WHEN 'admin' THEN 300 WHEN 'member' THEN 200 ELSE 100 END)
)
BEGIN
  SELECT RAISE(ABORT, 'accountable_role_exceeded');
END;
--> statement-breakpoint
-- The same for invitations: none is inserted for a person who, as their membership stands when the insert
-- runs, may not manage members (owner, admin: src/auth/roles.ts, checked by a test) or whose role is below
-- the invitation's. A removal or demotion revokes their pending invitations in its own batch; this makes an
-- invitation create that read the old role and commits after it fail ('inviter_not_entitled': 403).
CREATE TRIGGER `invitations_within_inviter_role` BEFORE INSERT ON `invitations`
WHEN NEW.`invited_by_entity_id` IS NOT NULL AND NOT EXISTS (
  SELECT 1 FROM `memberships` m
  WHERE m.`workspace_id` = NEW.`workspace_id` AND m.`identity_id` = NEW.`invited_by_entity_id` AND m.`role` IN ('owner', 'admin')
    AND (CASE m.`role` WHEN 'owner' THEN 400 WHEN 'admin' THEN 300 WHEN 'member' THEN 200 ELSE 100 END)
      >= (CASE NEW.`role` WHEN 'owner' THEN 400 WHEN 'admin' THEN 300 WHEN 'member' THEN 200 ELSE 100 END)
)
BEGIN
  SELECT RAISE(ABORT, 'inviter_not_entitled');
END;
