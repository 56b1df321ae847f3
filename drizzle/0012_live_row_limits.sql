-- Bounds on what one member can make a workspace hold in this region's D1 (docs/decisions/0037-storage-bounded-per-caller.md):
-- at most 1,000 live (unrevoked) API keys and 1,000 pending unexpired invitations per workspace. SQLite checks them on each
-- insert, inside the insert's own transaction, so concurrent creates cannot pass them. The numbers are also in
-- src/core/limits.ts (for the 403's sentence), which test/routes/api-keys/limits.test.ts holds to these.
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
