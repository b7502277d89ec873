-- What the builder page shows of a builder's recent past.
--
-- state_since: when the builder last changed state in the database: made
-- (in)active, ok or failed, manual or automatic (a trigger on builder), or
-- took or lost a job (a trigger on buildqueue). Both triggers write in the
-- transaction that changes the state, so no statement is added.
--
-- last_scanned: when a master last scanned it; written by the scanners in
-- one batched statement a minute (lp_buildmaster/scantimes.py), not one
-- per scan.
ALTER TABLE builder
    ADD COLUMN state_since timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN last_scanned timestamptz;

CREATE FUNCTION builder_state_since() RETURNS trigger AS $$
BEGIN
    IF NEW.active IS DISTINCT FROM OLD.active
            OR NEW.builderok IS DISTINCT FROM OLD.builderok
            OR NEW.manual IS DISTINCT FROM OLD.manual THEN
        NEW.state_since := now();
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER builder_state_since BEFORE UPDATE OF active, builderok, manual
    ON builder FOR EACH ROW EXECUTE FUNCTION builder_state_since();

CREATE FUNCTION buildqueue_builder_since() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.builder IS NOT NULL THEN
            UPDATE builder SET state_since = now() WHERE id = OLD.builder;
        END IF;
    ELSIF TG_OP = 'INSERT' THEN
        IF NEW.builder IS NOT NULL THEN
            UPDATE builder SET state_since = now() WHERE id = NEW.builder;
        END IF;
    ELSIF NEW.builder IS DISTINCT FROM OLD.builder THEN
        UPDATE builder SET state_since = now()
         WHERE id = OLD.builder OR id = NEW.builder;
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER buildqueue_builder_since
    AFTER INSERT OR DELETE OR UPDATE OF builder ON buildqueue
    FOR EACH ROW EXECUTE FUNCTION buildqueue_builder_since();
