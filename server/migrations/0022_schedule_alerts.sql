-- Alert conditions 6 (FIRE_MISSED) and 7 (FIRE_LATE): rules on the schedule events MISSED
-- and LATE, matched by their own consumer of the event log (cursor 'schedule_alerts').
ALTER TABLE alert_rules DROP CONSTRAINT alert_rules_condition_check;
ALTER TABLE alert_rules ADD CONSTRAINT alert_rules_condition_check CHECK (condition BETWEEN 1 AND 7);

-- It starts at the present, as the others did: rules never alert on older history.
INSERT INTO event_log_consumers (name, cursor)
SELECT 'schedule_alerts', CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM run_events_cursor_seq;
