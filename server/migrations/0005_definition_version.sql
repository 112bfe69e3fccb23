-- Counts changes to a job's definition (spec, name, queue, labels). The leader keeps
-- parsed definitions in memory keyed by (id, definition_version), so a job that fires
-- every second is not parsed from JSON on every fire.
ALTER TABLE jobs ADD COLUMN definition_version bigint NOT NULL DEFAULT 0;
