CREATE TABLE `device_authorizations` (
	`id` text PRIMARY KEY NOT NULL,
	`device_code_hash` text NOT NULL,
	`user_code_hash` text NOT NULL,
	`client_description` text NOT NULL,
	`scope` text NOT NULL,
	`requested_from_address` text,
	`requested_from_country` text,
	`requested_by_agent` text,
	`state` text NOT NULL,
	`identity_id` text,
	`interval_seconds` integer NOT NULL,
	`last_polled_at` text,
	`decided_at` text,
	`created_at` text NOT NULL,
	`expires_at` text NOT NULL,
	CONSTRAINT "device_authorizations_state_check" CHECK("device_authorizations"."state" in ('pending', 'approved', 'denied', 'consumed'))
);
--> statement-breakpoint
CREATE UNIQUE INDEX `device_authorizations_device_code_unique` ON `device_authorizations` (`device_code_hash`);--> statement-breakpoint
CREATE UNIQUE INDEX `device_authorizations_user_code_unique` ON `device_authorizations` (`user_code_hash`);--> statement-breakpoint
CREATE INDEX `device_authorizations_expires_idx` ON `device_authorizations` (`expires_at`);--> statement-breakpoint
CREATE TABLE `refresh_tokens` (
	`id` text PRIMARY KEY NOT NULL,
	`token_hash` text NOT NULL,
	`family_id` text NOT NULL,
	`identity_id` text NOT NULL,
	`workspace_id` text,
	`scope` text NOT NULL,
	`client_description` text NOT NULL,
	`family_created_at` text NOT NULL,
	`issued_at` text NOT NULL,
	`expires_at` text NOT NULL,
	`spent_at` text,
	`replaced_by` text,
	`revoked_at` text,
	`revoked_reason` text
);
--> statement-breakpoint
CREATE UNIQUE INDEX `refresh_tokens_token_hash_unique` ON `refresh_tokens` (`token_hash`);--> statement-breakpoint
CREATE INDEX `refresh_tokens_family_idx` ON `refresh_tokens` (`family_id`);--> statement-breakpoint
CREATE INDEX `refresh_tokens_identity_idx` ON `refresh_tokens` (`identity_id`);--> statement-breakpoint
CREATE INDEX `refresh_tokens_expires_idx` ON `refresh_tokens` (`expires_at`);