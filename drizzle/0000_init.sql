CREATE TABLE `memberships` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`workspace_id` text NOT NULL,
	`identity_id` text NOT NULL,
	`role` text NOT NULL,
	`created_at` text NOT NULL,
	FOREIGN KEY (`workspace_id`) REFERENCES `workspaces`(`id`) ON UPDATE no action ON DELETE no action,
	CONSTRAINT "memberships_role_check" CHECK("memberships"."role" in ('owner', 'admin', 'member', 'viewer'))
);
--> statement-breakpoint
CREATE UNIQUE INDEX `memberships_workspace_identity_unique` ON `memberships` (`workspace_id`,`identity_id`);--> statement-breakpoint
CREATE INDEX `memberships_identity_idx` ON `memberships` (`identity_id`,`workspace_id`);--> statement-breakpoint
CREATE TABLE `workspaces` (
	`seq` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`id` text NOT NULL,
	`slug` text NOT NULL,
	`name` text NOT NULL,
	`environment` text NOT NULL,
	`backend_org_id` text,
	`region` text NOT NULL,
	`connector_type` text,
	`provisioned_at` text,
	`archived_at` text,
	`created_by_identity_id` text NOT NULL,
	`created_at` text NOT NULL,
	`updated_at` text NOT NULL,
	CONSTRAINT "workspaces_environment_check" CHECK("workspaces"."environment" in ('production', 'staging', 'development'))
);
--> statement-breakpoint
CREATE UNIQUE INDEX `workspaces_id_unique` ON `workspaces` (`id`);--> statement-breakpoint
CREATE UNIQUE INDEX `workspaces_slug_unique` ON `workspaces` (`slug`);