-- Instant dispatch wakes one idle builder per waiting job, of the job's
-- processor and virtualization: the 'buildqueue' payload becomes
-- 'processor:virtualized:queue id' (virtualized 0 or 1). The queue id
-- makes each payload unique, so that PostgreSQL does not fold the
-- notifications of several jobs queued in one transaction into one.
-- (A master of before this migration ignores such payloads: it still
-- dispatches them, at its builders' next scans.)

CREATE OR REPLACE FUNCTION buildqueue_notify() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.builder IS NULL THEN
            PERFORM pg_notify('buildqueue', NEW.processor || ':'
                              || NEW.virtualized::int || ':' || NEW.id);
        END IF;
    ELSIF TG_OP = 'UPDATE' THEN
        IF NEW.builder IS NULL AND OLD.builder IS NOT NULL THEN
            PERFORM pg_notify('buildqueue', NEW.processor || ':'
                              || NEW.virtualized::int || ':' || NEW.id);
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
