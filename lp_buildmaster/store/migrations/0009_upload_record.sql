-- The record of an accepted upload: its .changes (not listed in itself)
-- and its .buildinfo in the librarian, linked from the build and from
-- every binary package it produced. The .buildinfo stays a buildfile as
-- well, with the .debs.
ALTER TABLE build ADD COLUMN changesfile integer REFERENCES libraryfilealias;
ALTER TABLE build ADD COLUMN buildinfo integer REFERENCES libraryfilealias;
ALTER TABLE binarypackagerelease
    ADD COLUMN changesfile integer REFERENCES libraryfilealias;
ALTER TABLE binarypackagerelease
    ADD COLUMN buildinfo integer REFERENCES libraryfilealias;
