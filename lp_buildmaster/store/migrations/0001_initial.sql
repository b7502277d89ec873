-- The initial schema: the world of the seed.
-- Enumerations are stored as the integer values of lp_buildmaster.enums.

CREATE TABLE processor (
    id serial PRIMARY KEY,
    name text NOT NULL UNIQUE,
    title text NOT NULL,
    description text NOT NULL DEFAULT ''
);

CREATE TABLE distribution (
    id serial PRIMARY KEY,
    name text NOT NULL UNIQUE,
    title text NOT NULL,
    displayname text NOT NULL
);

CREATE TABLE distrorelease (
    id serial PRIMARY KEY,
    distribution integer NOT NULL REFERENCES distribution,
    name text NOT NULL,
    title text NOT NULL,
    version text NOT NULL DEFAULT '',
    releasestatus integer NOT NULL,
    UNIQUE (distribution, name)
);

CREATE TABLE distroarchrelease (
    id serial PRIMARY KEY,
    distrorelease integer NOT NULL REFERENCES distrorelease,
    architecturetag text NOT NULL,
    processor integer NOT NULL REFERENCES processor,
    official boolean NOT NULL DEFAULT true,
    UNIQUE (distrorelease, architecturetag)
);

CREATE TABLE libraryfilecontent (
    id serial PRIMARY KEY,
    sha1 char(40) NOT NULL UNIQUE,
    sha256 char(64) NOT NULL,
    filesize bigint NOT NULL CHECK (filesize >= 0),
    datecreated timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE libraryfilealias (
    id serial PRIMARY KEY,
    content integer NOT NULL REFERENCES libraryfilecontent,
    filename text NOT NULL CHECK (filename <> '' AND strpos(filename, '/') = 0),
    mimetype text NOT NULL,
    restricted boolean NOT NULL DEFAULT false,
    expires timestamptz,
    datecreated timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX libraryfilealias__content ON libraryfilealias (content);

CREATE TABLE pocketchroot (
    id serial PRIMARY KEY,
    distroarchrelease integer NOT NULL REFERENCES distroarchrelease,
    pocket integer NOT NULL,
    chroot integer REFERENCES libraryfilealias,
    UNIQUE (distroarchrelease, pocket)
);

CREATE TABLE archive (
    id serial PRIMARY KEY,
    distribution integer NOT NULL REFERENCES distribution,
    name text NOT NULL,
    purpose integer NOT NULL,
    owner text NOT NULL DEFAULT '',
    private boolean NOT NULL DEFAULT false,
    require_virtualized boolean NOT NULL DEFAULT false,
    enabled boolean NOT NULL DEFAULT true,
    relative_build_score integer NOT NULL DEFAULT 0,
    UNIQUE (distribution, name)
);

CREATE TABLE sourcepackagename (
    id serial PRIMARY KEY,
    name text NOT NULL UNIQUE
);

CREATE TABLE sourcepackagerelease (
    id serial PRIMARY KEY,
    sourcepackagename integer NOT NULL REFERENCES sourcepackagename,
    version text NOT NULL,
    component text NOT NULL DEFAULT 'main',
    section text NOT NULL DEFAULT 'misc',
    urgency integer NOT NULL DEFAULT 1,
    maintainer text NOT NULL DEFAULT '',
    architecturehintlist text NOT NULL DEFAULT 'any',
    dsc text NOT NULL DEFAULT '',
    datecreated timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sourcepackagerelease__name_version
    ON sourcepackagerelease (sourcepackagename, version);

-- The files of a source: its .dsc and what the .dsc lists.
CREATE TABLE sourcepackagereleasefile (
    id serial PRIMARY KEY,
    sourcepackagerelease integer NOT NULL REFERENCES sourcepackagerelease,
    libraryfile integer NOT NULL REFERENCES libraryfilealias,
    filetype text NOT NULL
);
CREATE INDEX sourcepackagereleasefile__spr
    ON sourcepackagereleasefile (sourcepackagerelease);

-- The source publication: which series, archive and pocket a source is in.
CREATE TABLE sourcepackagepublishinghistory (
    id serial PRIMARY KEY,
    sourcepackagerelease integer NOT NULL REFERENCES sourcepackagerelease,
    distrorelease integer NOT NULL REFERENCES distrorelease,
    archive integer NOT NULL REFERENCES archive,
    pocket integer NOT NULL,
    component text NOT NULL DEFAULT 'main',
    status integer NOT NULL,
    datecreated timestamptz NOT NULL DEFAULT now(),
    datesuperseded timestamptz
);
CREATE INDEX sourcepackagepublishinghistory__spr
    ON sourcepackagepublishinghistory (sourcepackagerelease, status);

-- Several masters may share one database: a builder is scanned by the
-- master holding its lease (owner, lease_expires); an expired lease may be
-- taken over by another master.
CREATE TABLE builder (
    id serial PRIMARY KEY,
    name text NOT NULL UNIQUE,
    title text NOT NULL DEFAULT '',
    url text NOT NULL,
    processor integer NOT NULL REFERENCES processor,
    virtualized boolean NOT NULL DEFAULT false,
    manual boolean NOT NULL DEFAULT false,
    active boolean NOT NULL DEFAULT true,
    builderok boolean NOT NULL DEFAULT true,
    failnotes text,
    failure_count integer NOT NULL DEFAULT 0,
    vm_host text,
    clean boolean NOT NULL DEFAULT true,
    owner text,
    lease_expires timestamptz,
    datecreated timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX builder__processor ON builder (processor, virtualized)
    WHERE active AND builderok AND NOT manual;

CREATE TABLE build (
    id serial PRIMARY KEY,
    distroarchrelease integer NOT NULL REFERENCES distroarchrelease,
    sourcepackagerelease integer NOT NULL REFERENCES sourcepackagerelease,
    archive integer NOT NULL REFERENCES archive,
    pocket integer NOT NULL,
    buildstate integer NOT NULL,
    builder integer REFERENCES builder,
    datecreated timestamptz NOT NULL DEFAULT now(),
    date_started timestamptz,
    datebuilt timestamptz,
    buildduration interval,
    buildlog integer REFERENCES libraryfilealias,
    upload_log integer REFERENCES libraryfilealias,
    dependencies text,
    failure_count integer NOT NULL DEFAULT 0
);
CREATE INDEX build__buildstate ON build (buildstate);
CREATE INDEX build__sourcepackagerelease ON build (sourcepackagerelease);

-- Binary files produced by a build and accepted by upload processing.
CREATE TABLE buildfile (
    id serial PRIMARY KEY,
    build integer NOT NULL REFERENCES build,
    libraryfile integer NOT NULL REFERENCES libraryfilealias,
    filetype text NOT NULL
);
CREATE INDEX buildfile__build ON buildfile (build);

-- processor and virtualized are copied from the build's distroarchrelease
-- and archive so that candidate selection is one index scan.
CREATE TABLE buildqueue (
    id serial PRIMARY KEY,
    build integer NOT NULL UNIQUE REFERENCES build,
    builder integer REFERENCES builder,
    buildstart timestamptz,
    lastscore integer NOT NULL DEFAULT 0,
    manual boolean NOT NULL DEFAULT false,
    logtail text,
    processor integer NOT NULL REFERENCES processor,
    virtualized boolean NOT NULL DEFAULT false,
    datecreated timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX buildqueue__candidates
    ON buildqueue (processor, virtualized, lastscore DESC, id)
    WHERE builder IS NULL;
-- A builder runs at most one job.
CREATE UNIQUE INDEX buildqueue__builder ON buildqueue (builder)
    WHERE builder IS NOT NULL;
