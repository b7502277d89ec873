"""Streaming a gzipped file out decompressed, in bounded memory.

Build logs are stored gzipped as C{text/plain} (C{buildlog_....txt.gz}).
A browser that accepts gzip gets the stored bytes with
C{Content-Encoding: gzip}; any other client gets the text decompressed on
the fly by L{GunzipProducer}, which reads 64 KiB at a time and never
holds more than one chunk of output, whatever the file's size.
"""

import zlib

from twisted.internet.interfaces import IPullProducer
from twisted.logger import Logger
from zope.interface import implementer

log = Logger(namespace="lp_buildmaster.librarian")

#: Compressed bytes read per step, and the most text one step writes.
READ_SIZE = 64 * 1024
MAX_OUTPUT = 256 * 1024


def isGzippedText(filename, mimetype):
    """Whether a library file is text stored gzipped (a build log)."""
    return filename.endswith(".gz") and mimetype.split(";")[0].strip() == \
        "text/plain"


def acceptsGzip(request):
    """Whether the request's Accept-Encoding allows gzip."""
    header = request.getHeader(b"accept-encoding") or b""
    for part in header.split(b","):
        coding, _, params = part.strip().partition(b";")
        if coding.strip().lower() in (b"gzip", b"x-gzip", b"*"):
            q = params.strip().lower()
            if q.startswith(b"q=") and q[2:].strip() in (b"0", b"0.0",
                                                         b"0.00", b"0.000"):
                continue
            return True
    return False


@implementer(IPullProducer)
class GunzipProducer:
    """Writes a gzip file's decompressed content to a consumer.

    @param file: the open gzip file (binary); closed when done.
    @param consumer: an C{IConsumer} (a request).
    @param filter: called with each chunk of text (bytes) and C{final};
        returns what to write (e.g. HTML-escaped). Identity by default.
    @param done: called once with no argument when all is written, or
        with a reason when the stream is corrupt (the consumer is left
        to the caller).
    """

    def __init__(self, file, consumer, filter=None, done=None):
        self.file = file
        self.consumer = consumer
        self.filter = filter or (lambda data, final: data)
        self.done = done
        self.decompressor = zlib.decompressobj(zlib.MAX_WBITS | 16)
        self.pending = b""
        self.finished = False

    def start(self):
        self.consumer.registerProducer(self, False)

    def _keepTail(self, d):
        # At the end of a member what is left is in unused_data (the next
        # member), not input still to decompress.
        self.pending = b"" if d.eof else d.unconsumed_tail

    def _step(self):
        """At most L{MAX_OUTPUT} bytes of text; None at the end."""
        d = self.decompressor
        if self.pending:
            data, self.pending = self.pending, b""
            out = d.decompress(data, MAX_OUTPUT)
            self._keepTail(d)
            return out
        if d.eof:
            # Concatenated gzip members are one stream to gzip(1).
            rest = d.unused_data
            if not rest:
                rest = self.file.read(READ_SIZE)
                if not rest:
                    return None
            self.decompressor = d = zlib.decompressobj(zlib.MAX_WBITS | 16)
            out = d.decompress(rest, MAX_OUTPUT)
            self._keepTail(d)
            return out
        data = self.file.read(READ_SIZE)
        if not data:
            if not d.eof:
                raise zlib.error("the gzip stream is truncated")
            return None
        out = d.decompress(data, MAX_OUTPUT)
        self._keepTail(d)
        return out

    def resumeProducing(self):
        if self.finished:
            return
        try:
            out = self._step()
            while out == b"":
                out = self._step()
        except (zlib.error, OSError) as e:
            self._end(e)
            return
        if out is None:
            tail = self.filter(b"", True)
            if tail:
                self.consumer.write(tail)
            self._end(None)
            return
        self.consumer.write(self.filter(out, False))

    def stopProducing(self):
        if not self.finished:
            self.finished = True
            self.file.close()

    def _end(self, error):
        self.finished = True
        self.file.close()
        self.consumer.unregisterProducer()
        if error is not None:
            log.warn("a gzipped file cannot be read: {error}", error=error)
        if self.done is not None:
            self.done(error) if error is not None else self.done()
