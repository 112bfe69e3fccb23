-- Execution: the cancel sweep re-signals running runs whose cancellation was requested;
-- this partial index keeps that scan to those few rows.
CREATE INDEX runs_cancel_requested ON runs (cancel_requested_time) WHERE state = 2 AND cancel_requested_time IS NOT NULL;
