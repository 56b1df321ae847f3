DROP INDEX `audit_exports_created_idx`;--> statement-breakpoint
ALTER TABLE `audit_exports` ADD `status` text DEFAULT 'done' NOT NULL;--> statement-breakpoint
ALTER TABLE `audit_exports` ADD `events_written` integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE `audit_exports` ADD `finished_at` text;--> statement-breakpoint
ALTER TABLE `audit_exports` ADD `failure` text;--> statement-breakpoint
ALTER TABLE `audit_exports` ADD `filters` text;--> statement-breakpoint
-- Every export before this migration was written within its request: done, and finished when created.
UPDATE `audit_exports` SET `events_written` = `row_count`, `finished_at` = `created_at`;--> statement-breakpoint
CREATE INDEX `audit_exports_finished_idx` ON `audit_exports` (`finished_at`);
