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
	`timestamp` text NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `audit_events_id_unique` ON `audit_events` (`id`);--> statement-breakpoint
CREATE INDEX `audit_events_time_idx` ON `audit_events` (`timestamp`);--> statement-breakpoint
CREATE INDEX `audit_events_action_time_idx` ON `audit_events` (`action`,`timestamp`);--> statement-breakpoint
CREATE INDEX `audit_events_actor_time_idx` ON `audit_events` (`actor_entity_id`,`timestamp`);--> statement-breakpoint
CREATE INDEX `audit_events_credential_time_idx` ON `audit_events` (`actor_credential_id`,`timestamp`);--> statement-breakpoint
CREATE INDEX `audit_events_resource_type_time_idx` ON `audit_events` (`resource_type`,`timestamp`);--> statement-breakpoint
CREATE INDEX `audit_events_resource_time_idx` ON `audit_events` (`resource_id`,`timestamp`);--> statement-breakpoint
CREATE INDEX `audit_events_service_time_idx` ON `audit_events` (`service`,`timestamp`);--> statement-breakpoint
CREATE INDEX `audit_events_phi_time_idx` ON `audit_events` (`phi_accessed`,`timestamp`);--> statement-breakpoint
CREATE TABLE `retracted_events` (
	`id` text PRIMARY KEY NOT NULL
);
