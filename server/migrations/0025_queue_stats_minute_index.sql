-- GetRunSeries of every queue reads queue_stats_minutes by minute alone (the primary key
-- leads with the queue), and so does the rollups' pruning: an index on the minute keeps both
-- to the window's rows instead of the whole table.
CREATE INDEX queue_stats_minutes_minute ON queue_stats_minutes (minute);
