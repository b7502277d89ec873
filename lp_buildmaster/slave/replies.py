"""Parsing XML-RPC replies from builders, which are hostile.

C{xmlrpc.client.loads} expands any entity a reply's DTD declares and
builds whatever nesting the reply describes, so a reply well under the
size cap can cost gigabytes (an entity repeated a million times) or blow
Python's recursion limit later (an array nested 200,000 deep). This parser
feeds the same L{xmlrpc.client.Unmarshaller} from expat, but refuses any
DOCTYPE or entity declaration outright and counts elements and depth over
the whole reply as it goes, stopping at the first one past a limit.
"""

import xmlrpc.client as xmlrpclib
from xml.parsers import expat

from lp_buildmaster.slave.errors import (
    SlaveFault, SlaveProtocolError, SlaveUnsafeReply, _short)

__all__ = ["UnsafeReply", "ReplyParser", "loadsReply", "refusal", "MAX_DEPTH",
           "MAX_ELEMENTS", "MAX_STRING", "MAX_BINARY"]

#: The deepest real reply (a WAITING status dict with its filemap) nests
#: about a dozen elements.
MAX_DEPTH = 32

#: A filemap of 1,000 files is about 5,000 elements.
MAX_ELEMENTS = 50000

#: No string a builder sends legitimately comes near this.
MAX_STRING = 1024 * 1024

#: Of a base64 value (a log tail) the last this many bytes are kept.
MAX_BINARY = 64 * 1024


class UnsafeReply(ValueError):
    """A reply that declares a DTD or entities, or is too deep or too big
    in elements; nothing of it is kept."""


class ReplyParser:
    """An incremental, bounded XML-RPC reply parser: L{feed} it the reply
    as it arrives (so parsing a large reply is spread over many reactor
    turns), then L{close} it for the value.

    Besides the DTD, depth and element limits, no string may pass
    C{maxString} characters (L{UnsafeReply}), and a base64 value keeps
    only its last C{maxBinary} bytes: builders send binary only for log
    tails, of which the master keeps the end.
    """

    def __init__(self, useDateTime=False, maxDepth=MAX_DEPTH,
                 maxElements=MAX_ELEMENTS, maxString=MAX_STRING,
                 maxBinary=MAX_BINARY):
        self.target = xmlrpclib.Unmarshaller(use_datetime=useDateTime)
        self.maxDepth = maxDepth
        self.maxElements = maxElements
        self.maxString = maxString
        # base64 text for maxBinary bytes, rounded to whole quanta.
        self.maxBase64 = 4 * ((maxBinary + 2) // 3)
        self.depth = 0
        self.elements = 0
        self.tag = None
        self.text = []
        self.textLength = 0
        parser = self.parser = expat.ParserCreate(None, None)
        parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        parser.StartDoctypeDeclHandler = self.doctype
        parser.EntityDeclHandler = self.entity
        parser.UnparsedEntityDeclHandler = self.entity
        parser.StartElementHandler = self.start
        parser.EndElementHandler = self.end
        parser.CharacterDataHandler = self.data
        parser.buffer_text = True
        parser.buffer_size = 64 * 1024
        self.target.xml(None, None)

    def feed(self, data):
        self.parser.Parse(data, False)

    def close(self):
        """The reply's single value.

        @raise xmlrpc.client.Fault: for a fault reply.
        """
        self.parser.Parse(b"", True)
        values = self.target.close()
        if len(values) != 1:
            raise ValueError("%d values in a reply" % len(values))
        return values[0]

    def start(self, tag, attrs):
        self.depth += 1
        self.elements += 1
        if self.depth > self.maxDepth:
            raise UnsafeReply("nested deeper than %d elements" % self.maxDepth)
        if self.elements > self.maxElements:
            raise UnsafeReply("more than %d elements" % self.maxElements)
        self.tag = tag
        self.text = []
        self.textLength = 0
        self.target.start(tag, attrs)

    def data(self, text):
        self.text.append(text)
        self.textLength += len(text)
        if self.tag == "base64":
            if self.textLength > 2 * self.maxBase64:
                self._trimBase64()
        elif self.textLength > self.maxString:
            raise UnsafeReply("a value of more than %d characters"
                              % self.maxString)

    def _trimBase64(self):
        """Keep about the last maxBinary bytes' worth of base64 text,
        dropping only whole 4-character quanta from the front."""
        text = "".join("".join(self.text).split())
        drop = max(0, len(text) - self.maxBase64) // 4 * 4
        text = text[drop:]
        self.text, self.textLength = [text], len(text)

    def end(self, tag):
        self.depth -= 1
        if self.text:
            if tag == "base64" and self.textLength > self.maxBase64:
                self._trimBase64()
            self.target.data("".join(self.text))
        self.text = []
        self.textLength = 0
        self.tag = None
        self.target.end(tag)

    def doctype(self, name, *args):
        raise UnsafeReply("declares a DOCTYPE %r" % (name[:40],))

    def entity(self, name, *args):
        raise UnsafeReply("declares an entity %r" % (name[:40],))


def loadsReply(data, useDateTime=False, **limits):
    """Parse an XML-RPC C{methodResponse}, like C{xmlrpc.client.loads}.

    @param data: the reply body, bytes.
    @param limits: L{ReplyParser}'s.
    @return: the reply's single value.
    @raise UnsafeReply: for a DTD, an entity declaration, nesting, an
        element count or a string past the limits.
    @raise xmlrpc.client.Fault: for a fault reply.
    @raise Exception: anything else expat or the unmarshaller refuses
        (malformed XML, an unknown type, no value).
    """
    parser = ReplyParser(useDateTime, **limits)
    parser.feed(data)
    return parser.close()


def refusal(builder, e, size):
    """The L{SlaveError} a reply that did not parse means, C{e} being
    what the parser raised after C{size} bytes."""
    if isinstance(e, xmlrpclib.Fault):
        return SlaveFault(builder, e.faultCode, e.faultString)
    if isinstance(e, UnsafeReply):
        return SlaveUnsafeReply(
            builder, "unsafe reply (refused after %d bytes): %s" % (size, e))
    return SlaveProtocolError(builder, "unparseable reply: %s" % _short(e))
