-- Changed-By: who made a source upload (from its .changes, or given with
-- source add --changed-by). Build notifications mail it with the
-- Maintainer, as Launchpad mails a build's creator. '' when unknown.
ALTER TABLE sourcepackagerelease ADD COLUMN changed_by text NOT NULL DEFAULT '';
