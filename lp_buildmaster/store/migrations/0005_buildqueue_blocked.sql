-- Candidate selection walks buildqueue__candidates in score order and
-- stops at the first job that can run. Jobs that cannot run (archive
-- disabled, no chroot for their architecture and pocket, a pocket their
-- series' status forbids) stay in the queue, and when they score higher
-- than every runnable job (a disabled private PPA, say) each selection
-- walked past all of them: milliseconds per thousand. They are now
-- flagged 'blocked', kept up to date by the triggers below, and left out
-- of the index the dispatcher's query uses. The query still checks every
-- condition itself: the flag only prunes.

ALTER TABLE buildqueue ADD COLUMN blocked boolean NOT NULL DEFAULT false;

-- Whether a build of that archive, architecture and pocket cannot run.
-- A released series (CURRENT 4, SUPPORTED 5, OBSOLETE 6: enums.
-- RELEASED_STATUSES) takes only pockets other than RELEASE (0), a series
-- in development only RELEASE. Unknown rows: not blocked.
CREATE FUNCTION build_blocked(p_archive integer, p_dar integer,
                              p_pocket integer) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT coalesce(NOT (
        (SELECT a.enabled FROM archive a WHERE a.id = p_archive)
        AND (SELECT (dr.releasestatus IN (4, 5, 6)) = (p_pocket <> 0)
               FROM distroarchrelease dar
               JOIN distrorelease dr ON dr.id = dar.distrorelease
              WHERE dar.id = p_dar)
        AND EXISTS (SELECT 1 FROM pocketchroot pc
                     WHERE pc.distroarchrelease = p_dar
                       AND pc.pocket = p_pocket
                       AND pc.chroot IS NOT NULL)), false)
$$;

UPDATE buildqueue bq
   SET blocked = build_blocked(b.archive, b.distroarchrelease, b.pocket)
  FROM build b WHERE b.id = bq.build;

CREATE INDEX buildqueue__runnable
    ON buildqueue (processor, virtualized, lastscore DESC, id)
    WHERE builder IS NULL AND NOT blocked;

-- A new queue entry.
CREATE FUNCTION buildqueue_set_blocked() RETURNS trigger AS $$
BEGIN
    SELECT build_blocked(b.archive, b.distroarchrelease, b.pocket)
      INTO NEW.blocked FROM build b WHERE b.id = NEW.build;
    NEW.blocked := coalesce(NEW.blocked, false);
    RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER buildqueue_set_blocked BEFORE INSERT OR UPDATE OF build
    ON buildqueue FOR EACH ROW EXECUTE FUNCTION buildqueue_set_blocked();

-- A build moved to another archive, architecture or pocket.
CREATE FUNCTION build_reblock() RETURNS trigger AS $$
BEGIN
    UPDATE buildqueue SET blocked = build_blocked(
            NEW.archive, NEW.distroarchrelease, NEW.pocket)
     WHERE build = NEW.id;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER build_reblock AFTER UPDATE OF archive, distroarchrelease,
    pocket ON build FOR EACH ROW
    WHEN (OLD.archive <> NEW.archive
          OR OLD.distroarchrelease <> NEW.distroarchrelease
          OR OLD.pocket <> NEW.pocket)
    EXECUTE FUNCTION build_reblock();

-- An archive enabled or disabled.
CREATE FUNCTION archive_reblock() RETURNS trigger AS $$
BEGIN
    UPDATE buildqueue bq SET blocked = x.blocked
      FROM (SELECT b.id, build_blocked(b.archive, b.distroarchrelease,
                                       b.pocket) AS blocked
              FROM build b WHERE b.archive = NEW.id) x
     WHERE bq.build = x.id AND bq.blocked <> x.blocked;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER archive_reblock AFTER UPDATE OF enabled ON archive
    FOR EACH ROW WHEN (OLD.enabled IS DISTINCT FROM NEW.enabled)
    EXECUTE FUNCTION archive_reblock();

-- A series changing status.
CREATE FUNCTION distrorelease_reblock() RETURNS trigger AS $$
BEGIN
    UPDATE buildqueue bq SET blocked = x.blocked
      FROM (SELECT b.id, build_blocked(b.archive, b.distroarchrelease,
                                       b.pocket) AS blocked
              FROM build b
              JOIN distroarchrelease dar ON dar.id = b.distroarchrelease
             WHERE dar.distrorelease = NEW.id) x
     WHERE bq.build = x.id AND bq.blocked <> x.blocked;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER distrorelease_reblock AFTER UPDATE OF releasestatus
    ON distrorelease FOR EACH ROW
    WHEN (OLD.releasestatus IS DISTINCT FROM NEW.releasestatus)
    EXECUTE FUNCTION distrorelease_reblock();

-- A chroot set, changed or removed.
CREATE FUNCTION pocketchroot_reblock() RETURNS trigger AS $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT DISTINCT dar, pocket FROM (
            SELECT OLD.distroarchrelease AS dar, OLD.pocket AS pocket
             WHERE TG_OP <> 'INSERT'
            UNION ALL
            SELECT NEW.distroarchrelease, NEW.pocket
             WHERE TG_OP <> 'DELETE') changed LOOP
        UPDATE buildqueue bq SET blocked = x.blocked
          FROM (SELECT b.id, build_blocked(b.archive, b.distroarchrelease,
                                           b.pocket) AS blocked
                  FROM build b
                 WHERE b.distroarchrelease = r.dar
                   AND b.pocket = r.pocket) x
         WHERE bq.build = x.id AND bq.blocked <> x.blocked;
    END LOOP;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER pocketchroot_reblock AFTER INSERT OR DELETE
    OR UPDATE OF distroarchrelease, pocket, chroot ON pocketchroot
    FOR EACH ROW EXECUTE FUNCTION pocketchroot_reblock();
