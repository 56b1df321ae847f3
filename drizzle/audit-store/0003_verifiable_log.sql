CREATE TABLE `checkpoints` (
	`size` integer PRIMARY KEY NOT NULL,
	`note` text NOT NULL,
	`signed_at` text NOT NULL
);
--> statement-breakpoint
CREATE TABLE `log_state` (
	`id` integer PRIMARY KEY NOT NULL,
	`origin` text,
	`size` integer NOT NULL,
	`pruned` integer NOT NULL,
	`retracted` integer NOT NULL
);
--> statement-breakpoint
CREATE TABLE `tree_tiles` (
	`level` integer NOT NULL,
	`idx` integer NOT NULL,
	`hashes` blob NOT NULL,
	PRIMARY KEY(`level`, `idx`)
);
