-- Binary packages produced by builds and accepted by upload processing,
-- one row per .deb or .udeb of the upload. There is no separate
-- publisher: an accepted binary counts as published in its build's
-- series, archive and pocket. distrorelease is copied from the
-- distroarchrelease so that "is package NAME in series S, archive A" is
-- one index scan (dependency waits ask exactly that).
CREATE TABLE binarypackagerelease (
    id serial PRIMARY KEY,
    build integer NOT NULL REFERENCES build,
    name text NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9+.-]+$'),
    version text NOT NULL CHECK (version <> ''),
    -- 'all' or the architecture tag of the build's distroarchrelease.
    architecture text NOT NULL CHECK (architecture <> ''),
    distroarchrelease integer NOT NULL REFERENCES distroarchrelease,
    distrorelease integer NOT NULL REFERENCES distrorelease,
    archive integer NOT NULL REFERENCES archive,
    pocket integer NOT NULL,
    datecreated timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX binarypackagerelease__series_archive_name
    ON binarypackagerelease (distrorelease, archive, name);
CREATE INDEX binarypackagerelease__build ON binarypackagerelease (build);
