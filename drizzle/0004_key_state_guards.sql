-- No API key can be inserted into an archived workspace, by any writer. The check runs inside the insert's
-- own transaction, so when an archive and a key insert race, whichever D1 runs second sees the other:
-- the archive revokes the key, or the insert fails with 'workspace_archived' (the API answers 404).
CREATE TRIGGER `api_keys_require_live_workspace` BEFORE INSERT ON `api_keys`
WHEN (SELECT `archived_at` FROM `workspaces` WHERE `id` = NEW.`workspace_id`) IS NOT NULL
BEGIN
  SELECT RAISE(ABORT, 'workspace_archived');
END;
--> statement-breakpoint
-- record_purged_at now also marks keys revoked one by one (their record is deleted by the revoke itself),
-- so the archive purge only has to look at revoked keys whose record may remain.
UPDATE `api_keys` SET `record_purged_at` = `revoked_at`
WHERE `revoked_at` IS NOT NULL AND `record_purged_at` IS NULL
  AND `workspace_id` IN (SELECT `id` FROM `workspaces` WHERE `archived_at` IS NULL);
