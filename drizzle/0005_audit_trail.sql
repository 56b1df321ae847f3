CREATE TABLE `audit_events` (
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
	`timestamp` text NOT NULL,
	FOREIGN KEY (`workspace_id`) REFERENCES `workspaces`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `audit_events_id_unique` ON `audit_events` (`id`);--> statement-breakpoint
CREATE INDEX `audit_events_workspace_time_idx` ON `audit_events` (`workspace_id`,`timestamp`);--> statement-breakpoint
CREATE INDEX `audit_events_workspace_action_time_idx` ON `audit_events` (`workspace_id`,`action`,`timestamp`);--> statement-breakpoint
CREATE INDEX `audit_events_workspace_actor_time_idx` ON `audit_events` (`workspace_id`,`actor_entity_id`,`timestamp`);--> statement-breakpoint
CREATE INDEX `audit_events_workspace_credential_time_idx` ON `audit_events` (`workspace_id`,`actor_credential_id`,`timestamp`);--> statement-breakpoint
CREATE INDEX `audit_events_workspace_resource_type_time_idx` ON `audit_events` (`workspace_id`,`resource_type`,`timestamp`);--> statement-breakpoint
CREATE INDEX `audit_events_workspace_resource_time_idx` ON `audit_events` (`workspace_id`,`resource_id`,`timestamp`);--> statement-breakpoint
CREATE INDEX `audit_events_workspace_service_time_idx` ON `audit_events` (`workspace_id`,`service`,`timestamp`);--> statement-breakpoint
CREATE INDEX `audit_events_workspace_phi_time_idx` ON `audit_events` (`workspace_id`,`phi_accessed`,`timestamp`);--> statement-breakpoint
CREATE INDEX `audit_events_time_idx` ON `audit_events` (`timestamp`);--> statement-breakpoint
CREATE TABLE `audit_exports` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`id` text NOT NULL,
	`workspace_id` text NOT NULL,
	`object_key` text NOT NULL,
	`row_count` integer NOT NULL,
	`size` integer NOT NULL,
	`created_at` text NOT NULL,
	FOREIGN KEY (`workspace_id`) REFERENCES `workspaces`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `audit_exports_id_unique` ON `audit_exports` (`id`);--> statement-breakpoint
CREATE INDEX `audit_exports_workspace_seq_idx` ON `audit_exports` (`workspace_id`,`seq`);--> statement-breakpoint
CREATE INDEX `audit_exports_created_idx` ON `audit_exports` (`created_at`);