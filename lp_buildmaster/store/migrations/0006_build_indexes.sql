-- The triggers of 0005 re-flag the queued builds of an archive (enabled or
-- disabled) and of a series (status changed); without these indexes each
-- such change read the whole build table.
CREATE INDEX build__archive ON build (archive);
CREATE INDEX build__distroarchrelease ON build (distroarchrelease);
