-- The verifiable log numbers leaves in append order from 0, and leaf i is the event of seq i + 1. A store
-- from before it may have gaps in seq (events retracted or pruned), so its events are numbered again,
-- 1..n in their seq order (nothing outside the store keeps a store's seq). The table is rebuilt, which
-- drops its indexes and triggers; they are made again as 0000 and 0002 made them. The log starts empty:
-- the store appends the renumbered events as leaves when it starts (src/storage/audit-store/log.ts).
CREATE TABLE `__audit_events_renumbered` (
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
INSERT INTO `__audit_events_renumbered` SELECT row_number() OVER (ORDER BY `seq`), `id`, `workspace_id`, `service`, `action`,
	`actor_entity_id`, `actor_credential_id`, `resource_type`, `resource_id`, `resource_name`, `metadata`, `ip_address`,
	`user_agent`, `phi_accessed`, `timestamp` FROM `audit_events`;
--> statement-breakpoint
DROP TABLE `audit_events`;
--> statement-breakpoint
ALTER TABLE `__audit_events_renumbered` RENAME TO `audit_events`;
--> statement-breakpoint
CREATE UNIQUE INDEX `audit_events_id_unique` ON `audit_events` (`id`);--> statement-breakpoint
CREATE INDEX `audit_events_time_idx` ON `audit_events` (`timestamp`);--> statement-breakpoint
CREATE INDEX `audit_events_action_time_idx` ON `audit_events` (`action`,`timestamp`);--> statement-breakpoint
CREATE INDEX `audit_events_actor_time_idx` ON `audit_events` (`actor_entity_id`,`timestamp`);--> statement-breakpoint
CREATE INDEX `audit_events_credential_time_idx` ON `audit_events` (`actor_credential_id`,`timestamp`);--> statement-breakpoint
CREATE INDEX `audit_events_resource_type_time_idx` ON `audit_events` (`resource_type`,`timestamp`);--> statement-breakpoint
CREATE INDEX `audit_events_resource_time_idx` ON `audit_events` (`resource_id`,`timestamp`);--> statement-breakpoint
CREATE INDEX `audit_events_service_time_idx` ON `audit_events` (`service`,`timestamp`);--> statement-breakpoint
CREATE INDEX `audit_events_phi_time_idx` ON `audit_events` (`phi_accessed`,`timestamp`);
--> statement-breakpoint
CREATE TRIGGER `audit_events_total_insert` AFTER INSERT ON `audit_events`
BEGIN
	UPDATE `event_totals` SET `events` = `events` + 1 WHERE `id` = 1;
END;
--> statement-breakpoint
CREATE TRIGGER `audit_events_total_delete` AFTER DELETE ON `audit_events`
BEGIN
	UPDATE `event_totals` SET `events` = `events` - 1 WHERE `id` = 1;
END;
--> statement-breakpoint
INSERT INTO `log_state` (`id`, `origin`, `size`, `pruned`, `retracted`) VALUES (1, NULL, 0, 0, 0);
