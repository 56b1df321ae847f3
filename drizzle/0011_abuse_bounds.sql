DROP INDEX `workspaces_slug_unique`;--> statement-breakpoint
ALTER TABLE `workspaces` ADD `slug_released_at` text;--> statement-breakpoint
CREATE INDEX `workspaces_created_by_idx` ON `workspaces` (`created_by_identity_id`);--> statement-breakpoint
CREATE UNIQUE INDEX `workspaces_slug_unique` ON `workspaces` (`slug`) WHERE "workspaces"."slug_released_at" is null;--> statement-breakpoint
ALTER TABLE `retention_policies` ADD `version` integer DEFAULT 0 NOT NULL;