-- Each build has a job type: launchpad-buildd's build type, and the name
-- its IBuildFarmJobBehaviour adapter is registered under. The fields of a
-- job type other than a binary package build live in a table of its own.
ALTER TABLE build ADD COLUMN job_type text NOT NULL DEFAULT 'binarypackage';

-- translation-templates: the branch whose translation templates the
-- builder generates, from the build's source in its series.
CREATE TABLE translationtemplatesbuild (
    build integer PRIMARY KEY REFERENCES build,
    branch_url text NOT NULL
);
