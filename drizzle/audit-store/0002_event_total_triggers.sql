-- The store's event count (event_totals, one row), kept by SQLite itself on every insert and delete:
-- an unfiltered page's total reads it instead of counting the trail. A store created before this
-- migration starts from a count of what it holds.
INSERT INTO `event_totals` (`id`, `events`) SELECT 1, count(*) FROM `audit_events`;
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
