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

__all__ = ["UnsafeReply", "loadsReply", "MAX_DEPTH", "MAX_ELEMENTS"]

#: The deepest real reply (a WAITING status dict with its filemap) nests
#: about a dozen elements.
MAX_DEPTH = 32

#: A filemap of 1,000 files is about 5,000 elements.
MAX_ELEMENTS = 50000


class UnsafeReply(ValueError):
    """A reply that declares a DTD or entities, or is too deep or too big
    in elements; nothing of it is kept."""


class _Counter:
    """Passes expat's events to the unmarshaller while counting them."""

    def __init__(self, target, maxDepth, maxElements):
        self.target = target
        self.maxDepth = maxDepth
        self.maxElements = maxElements
        self.depth = 0
        self.elements = 0

    def start(self, tag, attrs):
        self.depth += 1
        self.elements += 1
        if self.depth > self.maxDepth:
            raise UnsafeReply("nested deeper than %d elements" % self.maxDepth)
        if self.elements > self.maxElements:
            raise UnsafeReply("more than %d elements" % self.maxElements)
        self.target.start(tag, attrs)

    def end(self, tag):
        self.depth -= 1
        self.target.end(tag)

    def doctype(self, name, *args):
        raise UnsafeReply("declares a DOCTYPE %r" % (name[:40],))

    def entity(self, name, *args):
        raise UnsafeReply("declares an entity %r" % (name[:40],))


def loadsReply(data, useDateTime=False, maxDepth=MAX_DEPTH,
               maxElements=MAX_ELEMENTS):
    """Parse an XML-RPC C{methodResponse}, like C{xmlrpc.client.loads}.

    @param data: the reply body, bytes.
    @return: the reply's single value.
    @raise UnsafeReply: for a DTD, an entity declaration, or nesting or
        an element count past the limits.
    @raise xmlrpc.client.Fault: for a fault reply.
    @raise Exception: anything else expat or the unmarshaller refuses
        (malformed XML, an unknown type, no value).
    """
    unmarshaller = xmlrpclib.Unmarshaller(use_datetime=useDateTime)
    counter = _Counter(unmarshaller, maxDepth, maxElements)
    parser = expat.ParserCreate(None, None)
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = counter.doctype
    parser.EntityDeclHandler = counter.entity
    parser.UnparsedEntityDeclHandler = counter.entity
    parser.StartElementHandler = counter.start
    parser.EndElementHandler = counter.end
    parser.CharacterDataHandler = unmarshaller.data
    parser.buffer_text = True
    unmarshaller.xml(None, None)
    parser.Parse(data, True)
    values = unmarshaller.close()
    if len(values) != 1:
        raise ValueError("%d values in a reply" % len(values))
    return values[0]
