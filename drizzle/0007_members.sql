CREATE TABLE `invitations` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`id` text NOT NULL,
	`workspace_id` text NOT NULL,
	`email` text NOT NULL,
	`role` text NOT NULL,
	`state` text NOT NULL,
	`invited_by_entity_id` text,
	`invited_by_credential_id` text NOT NULL,
	`accepted_by_identity_id` text,
	`expires_at` text NOT NULL,
	`created_at` text NOT NULL,
	`updated_at` text NOT NULL,
	FOREIGN KEY (`workspace_id`) REFERENCES `workspaces`(`id`) ON UPDATE no action ON DELETE no action,
	CONSTRAINT "invitations_role_check" CHECK("invitations"."role" in ('owner', 'admin', 'member', 'viewer')),
	CONSTRAINT "invitations_state_check" CHECK("invitations"."state" in ('pending', 'accepted', 'declined', 'revoked', 'expired'))
);
--> statement-breakpoint
CREATE UNIQUE INDEX `invitations_id_unique` ON `invitations` (`id`);--> statement-breakpoint
CREATE UNIQUE INDEX `invitations_pending_unique` ON `invitations` (`workspace_id`,`email`) WHERE "invitations"."state" = 'pending';--> statement-breakpoint
CREATE INDEX `invitations_workspace_seq_idx` ON `invitations` (`workspace_id`,`seq`);--> statement-breakpoint
CREATE INDEX `invitations_email_seq_idx` ON `invitations` (`email`,`seq`);--> statement-breakpoint
ALTER TABLE `memberships` ADD `email` text;--> statement-breakpoint
ALTER TABLE `memberships` ADD `display_name` text;--> statement-breakpoint
ALTER TABLE `memberships` ADD `invited_by` text;--> statement-breakpoint
-- The role ceiling at every moment: no API key is inserted with a role above that of the person
-- accountable for it (`created_by_entity_id`), as their membership stands when the insert runs. A demotion
-- or removal revokes that person's keys above the new role in its own batch; this check makes a key
-- create that read the old role and commits after that batch fail ('creator_role_exceeded': 403) instead
-- of leaving a key above the ceiling. Keys without an accountable person are not affected.
CREATE TRIGGER `api_keys_within_creator_role` BEFORE INSERT ON `api_keys`
WHEN NEW.`created_by_entity_id` IS NOT NULL AND NOT EXISTS (
  SELECT 1 FROM `memberships` m
  WHERE m.`workspace_id` = NEW.`workspace_id` AND m.`identity_id` = NEW.`created_by_entity_id`
    AND (CASE m.`role` WHEN 'owner' THEN 400 WHEN 'admin' THEN 300 WHEN 'member' THEN 200 ELSE 100 END)
      >= (CASE NEW.`role` WHEN 'owner' THEN 400 WHEN 'admin' THEN 300 WHEN 'member' THEN 200 ELSE 100 END)
)
BEGIN
  SELECT RAISE(ABORT, 'creator_role_exceeded');
END;
