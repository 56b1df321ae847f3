CREATE TABLE `audit_store_years` (
	`scope` text NOT NULL,
	`year` integer NOT NULL,
	PRIMARY KEY(`scope`, `year`)
);
--> statement-breakpoint
CREATE TABLE `retention_policies` (
	`workspace_id` text PRIMARY KEY NOT NULL,
	`call_recordings_days` integer,
	`call_transcripts_days` integer,
	`audit_log_days` integer,
	`world_events_days` integer,
	`phi_data_days` integer,
	`legal_hold` integer DEFAULT false NOT NULL,
	`legal_hold_reason` text,
	`updated_at` text,
	`pruned_at` text,
	FOREIGN KEY (`workspace_id`) REFERENCES `workspaces`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE INDEX `retention_policies_pruned_idx` ON `retention_policies` (`pruned_at`);--> statement-breakpoint
PRAGMA foreign_keys=OFF;--> statement-breakpoint
CREATE TABLE `__new_audit_events` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`id` text NOT NULL,
	`workspace_id` text,
	`service` text NOT NULL,
	`action` text NOT NULL,
	`actor_entity_id` text,
	`actor_credential_id` text,
	`resource_type` text NOT NULL,
	`resource_id` text,
	`resource_name` text,
	`metadata` text,
	`ip_address` text,
	`user_agent` text,
	`phi_accessed` integer DEFAULT false NOT NULL,
	`timestamp` text NOT NULL
);
--> statement-breakpoint
INSERT INTO `__new_audit_events`("seq", "id", "workspace_id", "service", "action", "actor_entity_id", "actor_credential_id", "resource_type", "resource_id", "resource_name", "metadata", "ip_address", "user_agent", "phi_accessed", "timestamp") SELECT "seq", "id", "workspace_id", "service", "action", "actor_entity_id", "actor_credential_id", "resource_type", "resource_id", "resource_name", "metadata", "ip_address", "user_agent", "phi_accessed", "timestamp" FROM `audit_events`;--> statement-breakpoint
DROP TABLE `audit_events`;--> statement-breakpoint
ALTER TABLE `__new_audit_events` RENAME TO `audit_events`;--> statement-breakpoint
PRAGMA foreign_keys=ON;--> statement-breakpoint
CREATE UNIQUE INDEX `audit_events_id_unique` ON `audit_events` (`id`);--> statement-breakpoint
CREATE INDEX `audit_events_scope_idx` ON `audit_events` (`workspace_id`);