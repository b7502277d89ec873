-- A world defined from the command line, and what a build request needs
-- to send Launchpad's archive dependencies (sources.list lines and the
-- keys they are signed with).

-- A series derived from another one (Debian's "parent"); informational.
ALTER TABLE distrorelease ADD COLUMN parent_series integer
    REFERENCES distrorelease CHECK (parent_series <> id);
-- The architecture that builds the Architecture: all packages. NULL: the
-- series' first architecture (the oldest id), as before.
ALTER TABLE distrorelease ADD COLUMN nominatedarchindep integer
    REFERENCES distroarchrelease;

-- Where builders find the archive (the URL of a sources.list line); NULL
-- for a primary archive means the master's [builders] archive_url.
ALTER TABLE archive ADD COLUMN archive_url text;
-- The archive's signing key: its fingerprint and the public key as
-- `gpg --export` gives it, base64 (what builders' trusted_keys take).
ALTER TABLE archive ADD COLUMN signing_key_fingerprint text
    CHECK (signing_key_fingerprint ~ '^[0-9A-F]{16,40}$');
ALTER TABLE archive ADD COLUMN signing_key text;
ALTER TABLE archive ADD CONSTRAINT archive__signing_key_pair
    CHECK ((signing_key IS NULL) = (signing_key_fingerprint IS NULL));
-- sources.list lines builders add for this archive's builds, one per
-- line; "%(series)s" stands for the build's series.
ALTER TABLE archive ADD COLUMN external_dependencies text;

-- Launchpad's ArchiveDependency: builds in `archive` may use `dependency`
-- at `pocket` (and the pockets it depends on) and `component` (and the
-- components it depends on; NULL: where the source is published in the
-- primary archive).
CREATE TABLE archivedependency (
    id serial PRIMARY KEY,
    archive integer NOT NULL REFERENCES archive,
    dependency integer NOT NULL REFERENCES archive,
    pocket integer NOT NULL,
    component text,
    datecreated timestamptz NOT NULL DEFAULT now(),
    CHECK (archive <> dependency),
    UNIQUE (archive, dependency)
);
