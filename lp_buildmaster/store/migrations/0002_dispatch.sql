-- Dispatch: why a build could not be started, and notifications that
-- wake idle builders at once (LISTEN/NOTIFY) instead of at their next scan.

ALTER TABLE build ADD COLUMN failnotes text;

-- 'buildqueue': a job is waiting (new, or given back); payload: processor.
-- 'builder_freed': a builder's job went away; payload: builder id.
CREATE FUNCTION buildqueue_notify() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.builder IS NULL THEN
            PERFORM pg_notify('buildqueue', NEW.processor::text);
        END IF;
    ELSIF TG_OP = 'UPDATE' THEN
        IF NEW.builder IS NULL AND OLD.builder IS NOT NULL THEN
            PERFORM pg_notify('buildqueue', NEW.processor::text);
            PERFORM pg_notify('builder_freed', OLD.builder::text);
        END IF;
    ELSIF TG_OP = 'DELETE' THEN
        IF OLD.builder IS NOT NULL THEN
            PERFORM pg_notify('builder_freed', OLD.builder::text);
        END IF;
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER buildqueue_notify AFTER INSERT OR UPDATE OF builder OR DELETE
    ON buildqueue FOR EACH ROW EXECUTE FUNCTION buildqueue_notify();

-- 'builders': a builder was added or changed; masters refresh their list.
CREATE FUNCTION builder_notify() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('builders', '');
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER builder_notify AFTER INSERT OR DELETE OR UPDATE OF
    url, processor, virtualized, manual, active, builderok
    ON builder FOR EACH STATEMENT EXECUTE FUNCTION builder_notify();
