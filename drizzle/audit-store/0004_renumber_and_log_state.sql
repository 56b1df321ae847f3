-- The verifiable log's one state row: an empty log, no origin yet. A store from before the log keeps its
-- events; the store numbers them 1..n again (closing the gaps retractions and prunes left) and appends them
-- as leaves when it first starts after this migration (src/storage/audit-store/log.ts, catchUp).
INSERT INTO `log_state` (`id`, `origin`, `size`, `pruned`, `retracted`) VALUES (1, NULL, 0, 0, 0);
