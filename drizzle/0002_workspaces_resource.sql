ALTER TABLE `api_keys` ADD `environment` text;--> statement-breakpoint
ALTER TABLE `workspaces` ADD `test_caller_numbers` text DEFAULT '[]' NOT NULL;--> statement-breakpoint
ALTER TABLE `workspaces` ADD `test_credential_ids` text DEFAULT '[]' NOT NULL;--> statement-breakpoint
CREATE INDEX `memberships_identity_seq_idx` ON `memberships` (`identity_id`,`seq`);