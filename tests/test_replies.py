"""Parsing builders' XML-RPC replies: the real replies parse as
C{xmlrpc.client.loads} parses them, and the hostile ones (a DTD, entities,
deep nesting, too many elements) are refused before they cost anything."""

import xmlrpc.client as xmlrpclib

from twisted.trial import unittest

from lp_buildmaster.slave.replies import (
    MAX_BINARY, MAX_DEPTH, MAX_ELEMENTS, MAX_STRING, ReplyParser, UnsafeReply,
    loadsReply)


def response(value):
    return xmlrpclib.dumps((value,), methodresponse=True,
                           allow_none=True).encode("utf-8")


class LoadsReplyTests(unittest.TestCase):

    def test_realReplies(self):
        """The daemon's replies come out as the standard parser gives them."""
        waiting = {
            "builder_status": "BuilderStatus.WAITING",
            "build_status": "BuildStatus.OK", "build_id": "8-1",
            "filemap": {"p_1.deb": "a" * 40, "p_1.changes": "b" * 40},
            "dependencies": "", "logtail": xmlrpclib.Binary(b"\xff tail")}
        for value in (waiting, ["1.0", "amd64", ["binarypackage"]],
                      [True, "Download"], "BuilderStatus.IDLE", None,
                      ("BuilderStatus.BUILDING", "8-1", "tail")):
            data = response(value)
            self.assertEqual(loadsReply(data), xmlrpclib.loads(data)[0][0])

    def test_fault(self):
        data = xmlrpclib.dumps(xmlrpclib.Fault(8002, "error"),
                               methodresponse=True).encode()
        e = self.assertRaises(xmlrpclib.Fault, loadsReply, data)
        self.assertEqual((e.faultCode, e.faultString), (8002, "error"))

    def test_entityBombUnderTheSizeCap(self):
        """A 290-byte entity repeated: refused at its declaration, before
        a single expansion."""
        data = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "'
                + b"x" * 290 + b'">]><methodResponse><params><param>'
                b"<value><string>" + b"&a;" * 100000
                + b"</string></value></param></params></methodResponse>")
        e = self.assertRaises(UnsafeReply, loadsReply, data)
        self.assertIn("DOCTYPE", str(e))

    def test_billionLaughs(self):
        data = (b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY l0 "ha">'
                + b"".join(b'<!ENTITY l%d "%s">' % (i, b"&l%d;" % (i - 1) * 10)
                           for i in range(1, 10))
                + b']><methodResponse><params><param><value><string>&l9;'
                b"</string></value></param></params></methodResponse>")
        self.assertRaises(UnsafeReply, loadsReply, data)

    def test_entityWithoutDoctype(self):
        """An entity nobody declared is simply malformed XML."""
        data = response("x").replace(b"<string>x", b"<string>&a;")
        self.assertRaises(Exception, loadsReply, data)

    def test_externalEntity(self):
        data = (b'<?xml version="1.0"?><!DOCTYPE r SYSTEM "file:///etc/passwd">'
                + response("x").split(b"?>", 1)[1])
        self.assertRaises(UnsafeReply, loadsReply, data)

    def test_deepNesting(self):
        """200,000 nested arrays: refused at depth MAX_DEPTH."""
        depth = 200000
        data = (b"<methodResponse><params><param>"
                + b"<value><array><data>" * depth
                + b"</data></array></value>" * depth
                + b"</param></params></methodResponse>")
        e = self.assertRaises(UnsafeReply, loadsReply, data)
        self.assertIn("deeper than %d" % MAX_DEPTH, str(e))

    def test_realDepthIsFine(self):
        value = "x"
        for _ in range(8):
            value = [value]
        self.assertEqual(loadsReply(response(value)), value)

    def test_tooManyElements(self):
        e = self.assertRaises(UnsafeReply, loadsReply,
                              response(list(range(MAX_ELEMENTS))))
        self.assertIn("more than %d elements" % MAX_ELEMENTS, str(e))
        self.assertEqual(len(loadsReply(response(list(range(1000))))), 1000)

    def test_noValue(self):
        self.assertRaises(Exception, loadsReply,
                          b"<methodResponse><params></params></methodResponse>")

    def test_hugeString(self):
        e = self.assertRaises(UnsafeReply, loadsReply,
                              response("x" * (MAX_STRING + 1)))
        self.assertIn("more than %d characters" % MAX_STRING, str(e))

    def test_binaryKeepsItsEnd(self):
        """A base64 value (a log tail) keeps only its last MAX_BINARY
        bytes, exactly, whatever its length."""
        for size in (0, 1, 2, 3, 4, MAX_BINARY - 1, MAX_BINARY,
                     MAX_BINARY + 1, 11 * 1024 * 1024 + 7):
            data = bytes((i * 7 + i // 251) % 256 for i in range(size))
            kept = loadsReply(response(xmlrpclib.Binary(data))).data
            self.assertEqual(kept, data[-len(kept):] if kept else b"")
            self.assertGreaterEqual(len(kept), min(size, MAX_BINARY))
            self.assertLess(len(kept), MAX_BINARY + 3)

    def test_fedInPieces(self):
        """Fed as it arrives, in pieces cut anywhere, a reply parses the
        same; a hostile one is refused at the piece that shows it."""
        data = response({"filemap": {"a.deb": "a" * 40}, "x": [1, 2.5]})
        for size in (1, 7, 4096):
            parser = ReplyParser()
            for i in range(0, len(data), size):
                parser.feed(data[i:i + size])
            self.assertEqual(parser.close(), xmlrpclib.loads(data)[0][0])
        parser = ReplyParser()
        parser.feed(b'<?xml version="1.0"?>')
        self.assertRaises(UnsafeReply, parser.feed, b"<!DOCTYPE r [")
