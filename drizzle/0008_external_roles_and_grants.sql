CREATE TABLE `external_role_assignments` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`id` text NOT NULL,
	`workspace_id` text NOT NULL,
	`source` text NOT NULL,
	`external_subject_key` text NOT NULL,
	`external_subject_id` text,
	`entity_id` text NOT NULL,
	`display_name` text,
	`roles` text NOT NULL,
	`roles_verified` integer NOT NULL,
	`status` text NOT NULL,
	`provisioned_via` text NOT NULL,
	`last_verified_at` text,
	`created_at` text NOT NULL,
	`updated_at` text NOT NULL,
	FOREIGN KEY (`workspace_id`) REFERENCES `workspaces`(`id`) ON UPDATE no action ON DELETE no action,
	CONSTRAINT "external_role_assignments_status_check" CHECK("external_role_assignments"."status" in ('active', 'suspended', 'revoked')),
	CONSTRAINT "external_role_assignments_provisioned_via_check" CHECK("external_role_assignments"."provisioned_via" in ('roster_sync', 'jit'))
);
--> statement-breakpoint
CREATE UNIQUE INDEX `external_role_assignments_id_unique` ON `external_role_assignments` (`id`);--> statement-breakpoint
CREATE UNIQUE INDEX `external_role_assignments_subject_unique` ON `external_role_assignments` (`workspace_id`,`source`,`external_subject_key`);--> statement-breakpoint
CREATE INDEX `external_role_assignments_workspace_seq_idx` ON `external_role_assignments` (`workspace_id`,`seq`);--> statement-breakpoint
CREATE INDEX `external_role_assignments_entity_idx` ON `external_role_assignments` (`workspace_id`,`entity_id`);--> statement-breakpoint
CREATE TABLE `external_roles` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`id` text NOT NULL,
	`workspace_id` text NOT NULL,
	`name` text NOT NULL,
	`external_name` text NOT NULL,
	`description` text,
	`created_at` text NOT NULL,
	`updated_at` text NOT NULL,
	`deleted_at` text,
	FOREIGN KEY (`workspace_id`) REFERENCES `workspaces`(`id`) ON UPDATE no action ON DELETE no action
);
--> statement-breakpoint
CREATE UNIQUE INDEX `external_roles_id_unique` ON `external_roles` (`id`);--> statement-breakpoint
CREATE UNIQUE INDEX `external_roles_live_name_unique` ON `external_roles` (`workspace_id`,`name`) WHERE "external_roles"."deleted_at" is null;--> statement-breakpoint
CREATE INDEX `external_roles_workspace_seq_idx` ON `external_roles` (`workspace_id`,`seq`);--> statement-breakpoint
CREATE TABLE `role_grants` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`id` text NOT NULL,
	`workspace_id` text NOT NULL,
	`role_id` text NOT NULL,
	`resource_type` text NOT NULL,
	`resource_key` text NOT NULL,
	`access` text NOT NULL,
	`param_binding` text,
	`status` text NOT NULL,
	`changed_by` text,
	`created_at` text NOT NULL,
	`updated_at` text NOT NULL,
	FOREIGN KEY (`workspace_id`) REFERENCES `workspaces`(`id`) ON UPDATE no action ON DELETE no action,
	CONSTRAINT "role_grants_resource_type_check" CHECK("role_grants"."resource_type" in ('integration_endpoint', 'skill', 'kb_scope')),
	CONSTRAINT "role_grants_access_check" CHECK("role_grants"."access" in ('read', 'write')),
	CONSTRAINT "role_grants_status_check" CHECK("role_grants"."status" in ('active', 'superseded'))
);
--> statement-breakpoint
CREATE UNIQUE INDEX `role_grants_id_unique` ON `role_grants` (`id`);--> statement-breakpoint
CREATE UNIQUE INDEX `role_grants_active_unique` ON `role_grants` (`role_id`,`resource_type`,`resource_key`,`access`) WHERE "role_grants"."status" = 'active';--> statement-breakpoint
CREATE INDEX `role_grants_workspace_seq_idx` ON `role_grants` (`workspace_id`,`seq`);