"""The end of a finished build's stored log, for its page's log tail box.

A stored log is gzipped in the librarian, so its end is only reached by
decompressing it all: L{StoredLogTails} streams it through
L{GunzipProducer} (64 KiB read, at most 256 KiB of text a step), one
step per turn of the reactor's cooperator, keeping only the last
L{TAIL_BYTES}. Memory stays bounded whatever the log's size, and the
reactor is never held for more than a step. Stored logs never change,
so each tail is kept (the last L{CACHE_SIZE} of them), and viewers
asking at once for the same log share one read.
"""

from collections import OrderedDict

from twisted.internet import defer, task

from lp_buildmaster.librarian.gunzip import GunzipProducer
from lp_buildmaster.text import tail

#: The bytes of text a finished build's log tail box shows.
TAIL_BYTES = 16 * 1024
#: Tails kept, by alias id.
CACHE_SIZE = 64


class _TailKeeper:
    """A consumer that keeps the last C{limit} bytes written to it."""

    def __init__(self, limit):
        self.limit = limit
        self.data = b""
        self.producer = None

    def registerProducer(self, producer, streaming):
        self.producer = producer

    def unregisterProducer(self):
        self.producer = None

    def write(self, data):
        self.data = (self.data + data)[-self.limit:]


def gunzipTail(file, limit=TAIL_BYTES, cooperator=None):
    """The last C{limit} bytes of the text of the gzip C{file} (closed
    when done).

    @return: a Deferred firing with bytes, or failing with the reason the
        stream cannot be read (truncated, not gzip).
    """
    keeper = _TailKeeper(limit)
    errors = []
    producer = GunzipProducer(file, keeper, done=lambda *e: errors.extend(e))
    producer.start()

    def steps():
        while not producer.finished:
            producer.resumeProducing()
            yield None

    def done(_):
        if errors:
            raise errors[0]
        return keeper.data

    def stopped(failure):
        producer.stopProducing()
        return failure
    d = (cooperator or task).cooperate(steps()).whenDone()
    return d.addCallback(done).addErrback(stopped)


class StoredLogTails:
    """The tails of stored logs, read through an L{ILibrarianClient}."""

    def __init__(self, librarian, limit=TAIL_BYTES, cache_size=CACHE_SIZE,
                 cooperator=None):
        self.librarian = librarian
        self.limit = limit
        self.cache_size = cache_size
        self.cooperator = cooperator
        self._cache = OrderedDict()
        self._reading = {}

    def get(self, alias_id):
        """Fires with the printable tail of the log C{alias_id}, or None
        when it cannot be read (missing, corrupt: logged once by the
        reader)."""
        if alias_id in self._cache:
            self._cache.move_to_end(alias_id)
            return defer.succeed(self._cache[alias_id])
        d = defer.Deferred()
        if alias_id in self._reading:
            self._reading[alias_id].append(d)
        else:
            self._reading[alias_id] = readers = [d]
            self._read(alias_id).addBoth(self._done, alias_id, readers)
        return d

    @defer.inlineCallbacks
    def _read(self, alias_id):
        try:
            content = yield self.librarian.getFileByAlias(alias_id)
        except LookupError:
            return None
        try:
            data = yield gunzipTail(content, self.limit, self.cooperator)
        except Exception:
            return None
        if len(data) == self.limit and b"\n" in data[:-1]:
            # Cut: start at a whole line.
            data = data[data.index(b"\n") + 1:]
        return tail(data, self.limit)

    def _done(self, result, alias_id, readers):
        del self._reading[alias_id]
        if isinstance(result, str) or result is None:
            if result is not None:
                self._cache[alias_id] = result
                while len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
            for d in readers:
                d.callback(result)
        else:
            for d in readers:
                d.errback(result)
