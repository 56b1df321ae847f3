CREATE TABLE `event_totals` (
	`id` integer PRIMARY KEY NOT NULL,
	`events` integer NOT NULL
);
