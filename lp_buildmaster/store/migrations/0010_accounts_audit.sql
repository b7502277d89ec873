-- Who may do what from the web and the API, and what was done.
--
-- account: a named person or robot with one role (viewer, operator or
-- admin). password_hash is scrypt (salt and parameters in the text), NULL
-- for an account that only uses API tokens.
CREATE TABLE account (
    id serial PRIMARY KEY,
    name text NOT NULL UNIQUE,
    role text NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    password_hash text,
    datecreated timestamptz NOT NULL DEFAULT now()
);

-- API tokens: only the SHA-256 of the secret is kept; revoked ones stay
-- for the record.
CREATE TABLE apitoken (
    id serial PRIMARY KEY,
    account integer NOT NULL REFERENCES account ON DELETE CASCADE,
    token_hash text NOT NULL UNIQUE,
    description text NOT NULL DEFAULT '',
    datecreated timestamptz NOT NULL DEFAULT now(),
    date_revoked timestamptz
);

-- Browser sessions after a login: the SHA-256 of the cookie, and the
-- CSRF token the session's forms must carry.
CREATE TABLE websession (
    id serial PRIMARY KEY,
    account integer NOT NULL REFERENCES account ON DELETE CASCADE,
    session_hash text NOT NULL UNIQUE,
    csrf text NOT NULL,
    expires timestamptz NOT NULL
);
CREATE INDEX websession__expires ON websession (expires);

-- Every action taken through the CLI, the API or the pages.
CREATE TABLE auditlog (
    id bigserial PRIMARY KEY,
    datecreated timestamptz NOT NULL DEFAULT now(),
    actor text NOT NULL,
    origin text NOT NULL,
    action text NOT NULL,
    build integer REFERENCES build,
    builder integer REFERENCES builder,
    detail text NOT NULL DEFAULT ''
);
CREATE INDEX auditlog__build ON auditlog (build, id) WHERE build IS NOT NULL;
CREATE INDEX auditlog__builder ON auditlog (builder, id)
    WHERE builder IS NOT NULL;
