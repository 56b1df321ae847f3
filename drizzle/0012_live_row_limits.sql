-- Bounds on what one member can make a workspace hold in this region's D1 (docs/decisions/0037-storage-bounded-per-caller.md):
-- per workspace, at most 1,000 live (unrevoked) API keys, 1,000 pending unexpired invitations, 1,000 live external roles and
-- 10,000 active role grants. SQLite checks them on each insert, inside the insert's own transaction, so concurrent creates
-- cannot pass them; each count reads a partial index of the rows that count, so history (revoked keys, answered
-- invitations, superseded grants) costs it nothing. The numbers are also in src/core/limits.ts (with the 403's sentence for
-- each reason), which test/storage/holding-limits.test.ts holds to these. And the person each idempotency record counts
-- against (IDEMPOTENCY_KEYS_PER_CALLER in src/storage/idempotency-records.ts), with its index.
ALTER TABLE `idempotency_records` ADD `holder` text;--> statement-breakpoint
CREATE INDEX `idempotency_records_holder_idx` ON `idempotency_records` (`holder`,`expires_at`);--> statement-breakpoint
CREATE INDEX `api_keys_live_idx` ON `api_keys` (`workspace_id`) WHERE "api_keys"."revoked_at" is null;--> statement-breakpoint
CREATE INDEX `invitations_pending_idx` ON `invitations` (`workspace_id`,`expires_at`) WHERE "invitations"."state" = 'pending';--> statement-breakpoint
CREATE INDEX `role_grants_active_idx` ON `role_grants` (`workspace_id`) WHERE "role_grants"."status" = 'active';
--> statement-breakpoint
CREATE TRIGGER `api_keys_live_per_workspace` BEFORE INSERT ON `api_keys`
WHEN (SELECT count(*) FROM `api_keys` WHERE `workspace_id` = NEW.`workspace_id` AND `revoked_at` IS NULL) >= 1000
BEGIN
  SELECT RAISE(ABORT, 'live_api_keys_exceeded');
END;
--> statement-breakpoint
CREATE TRIGGER `invitations_pending_per_workspace` BEFORE INSERT ON `invitations`
WHEN (SELECT count(*) FROM `invitations`
      WHERE `workspace_id` = NEW.`workspace_id` AND `state` = 'pending' AND `expires_at` > NEW.`created_at`) >= 1000
BEGIN
  SELECT RAISE(ABORT, 'pending_invitations_exceeded');
END;
--> statement-breakpoint
CREATE TRIGGER `external_roles_live_per_workspace` BEFORE INSERT ON `external_roles`
WHEN (SELECT count(*) FROM `external_roles` WHERE `workspace_id` = NEW.`workspace_id` AND `deleted_at` IS NULL) >= 1000
BEGIN
  SELECT RAISE(ABORT, 'live_external_roles_exceeded');
END;
--> statement-breakpoint
CREATE TRIGGER `role_grants_active_per_workspace` BEFORE INSERT ON `role_grants`
WHEN (SELECT count(*) FROM `role_grants` WHERE `workspace_id` = NEW.`workspace_id` AND `status` = 'active') >= 10000
BEGIN
  SELECT RAISE(ABORT, 'active_role_grants_exceeded');
END;
