"""Changed-By: stored by C{source add} (from a .changes or
C{--changed-by}) and mailed with the Maintainer when a build fails.

Recipients come from both fields parsed with C{email.utils.getaddresses},
as Launchpad mails a build's creator and maintainer: the Changed-By first,
then the Maintainer, without repeats, each validated, at most
L{MAX_SOURCE_RECIPIENTS} in all. Mail goes to the real Twisted SMTP server
on loopback that tests/test_notify.py uses.
"""

import dataclasses
import hashlib
import json
from pathlib import Path

from twisted.internet import defer, reactor, task
from twisted.logger import Logger, formatEvent
from twisted.trial import unittest

from lp_buildmaster import admin
from lp_buildmaster.enums import BuildStatus
from lp_buildmaster.notify import MAX_SOURCE_RECIPIENTS, BuildNotifier
from tests.test_admin import AdminCommandTestCase, writeSource
from tests.test_notify import FakeBuild, RecordingServer

ADMINS = ["admin1@example.com", "admin2@example.com"]
JANE = "Jane Uploader <jane@example.com>"


def writeChanges(root, dsc, files, changed_by=JANE, source=None,
                 version=None, name=None, damage=None):
    """A source-only .changes beside C{dsc} listing it and C{files}.

    @param damage: the name of a listed file whose md5 is listed wrong.
    """
    entries = {"Files": [], "Checksums-Sha1": [], "Checksums-Sha256": []}
    for path in [dsc] + list(files):
        data = path.read_bytes()
        md5 = hashlib.md5(data).hexdigest()
        if path.name == damage:
            md5 = "0" * 32
        size = len(data)
        entries["Files"].append(" %s %d misc optional %s"
                                % (md5, size, path.name))
        entries["Checksums-Sha1"].append(
            " %s %d %s" % (hashlib.sha1(data).hexdigest(), size, path.name))
        entries["Checksums-Sha256"].append(
            " %s %d %s" % (hashlib.sha256(data).hexdigest(), size,
                           path.name))
    stem, _, _ = dsc.name.rpartition(".")
    src, _, ver = stem.partition("_")
    lines = [
        "Format: 1.8",
        "Date: Sat, 01 Jan 2005 08:00:00 +0000",
        "Source: %s" % (source or src),
        "Architecture: source",
        "Version: %s" % (version or ver),
        "Distribution: hoary",
        "Urgency: low",
        "Maintainer: Me <me@example.com>",
    ]
    if changed_by is not None:
        lines.append("Changed-By: %s" % changed_by)
    lines += ["Description: a sample", "Changes:", " * Sample upload."]
    for field in ("Checksums-Sha1", "Checksums-Sha256", "Files"):
        lines += [field + ":"] + entries[field]
    path = root / (name or "%s_source.changes" % stem)
    path.write_text("\n".join(lines) + "\n")
    return path


class RecordingMixin:
    """A real SMTP server on loopback and notifiers talking to it, their
    retries on a L{task.Clock}; everything stopped at cleanup."""

    def startMail(self):
        self.clock = task.Clock()
        self.events = []
        self.server = RecordingServer()
        port = self.server.start()
        self.notifier = BuildNotifier(
            smtp_host="127.0.0.1", smtp_port=port, reactor=reactor,
            clock=self.clock, timeout=10, admins=ADMINS,
            sender="Build Master <buildd@example.com>")
        self.notifier.log = Logger(observer=self.events.append)
        self.addCleanup(self.server.stop)
        self.addCleanup(self.notifier.stop)

    @defer.inlineCallbacks
    def mailFor(self, build):
        """Notify about C{build}; fires with C{(recipients, message)}."""
        self.assertIs(self.notifier.notify(build), True)
        yield self.notifier.whenIdle()
        _, recipients, message = self.server.messages()[-1]
        return recipients, message

    def warnings(self):
        return [formatEvent(e) for e in self.events
                if e["log_level"].name == "warn"]


class ChangedByRecipientTests(RecordingMixin, unittest.TestCase):

    def setUp(self):
        self.startMail()

    @defer.inlineCallbacks
    def test_changedByAndMaintainerMailed(self):
        """The Changed-By and the Maintainer are both addressed (To), the
        admins copied."""
        recipients, message = yield self.mailFor(FakeBuild(
            BuildStatus.FAILEDTOBUILD, changed_by=JANE))
        self.assertEqual(sorted(recipients), sorted(
            ["jane@example.com", "foo@example.com"] + ADMINS))
        self.assertEqual(
            message["To"],
            "Jane Uploader <jane@example.com>, Foo Bar <foo@example.com>")
        self.assertEqual(message["Cc"], "admin1@example.com, "
                         "admin2@example.com")
        self.assertEqual(self.warnings(), [])

    @defer.inlineCallbacks
    def test_sameAddressMailedOnce(self):
        """A Changed-By who is also the Maintainer (in another case) is one
        recipient, named as the Changed-By has it, and the repeat does not
        use up the cap."""
        recipients, message = yield self.mailFor(FakeBuild(
            BuildStatus.CHROOTWAIT, changed_by="Foo Uploader <FOO@example.com>",
            maintainer="foo@example.com, b@example.com, c@example.com, "
            "d@example.com"))
        self.assertEqual(sorted(r.lower() for r in recipients), sorted(
            ["foo@example.com", "b@example.com", "c@example.com"]
            + ADMINS))
        self.assertEqual(message["To"], "Foo Uploader <FOO@example.com>, "
                         "b@example.com, c@example.com")

    @defer.inlineCallbacks
    def test_capCoversBothFieldsChangedByFirst(self):
        """At most MAX_SOURCE_RECIPIENTS from both fields, the Changed-By
        first: it is who made this upload."""
        recipients, _ = yield self.mailFor(FakeBuild(
            BuildStatus.FAILEDTOUPLOAD, changed_by="d@example.com",
            maintainer="a@example.com, b@example.com, c@example.com"))
        source = [r for r in recipients if r not in ADMINS]
        self.assertEqual(len(source), MAX_SOURCE_RECIPIENTS)
        self.assertEqual(sorted(source), ["a@example.com", "b@example.com",
                                          "d@example.com"])

    @defer.inlineCallbacks
    def test_hostileChangedByAddsNobody(self):
        """A continuation line or an encoded word in Changed-By adds no
        recipient and does not keep the Maintainer from being mailed; one
        warning names what was ignored."""
        for number, changed_by in enumerate([
                "Jane <jane@example.com>\n Bcc: victim@example.com",
                "=?utf-8?q?J?= <=?utf-8?q?=20victim-enc@example.com?=>"], 1):
            recipients, message = yield self.mailFor(FakeBuild(
                BuildStatus.FAILEDTOBUILD, id=number, changed_by=changed_by))
            self.assertEqual(sorted(recipients),
                             sorted(["foo@example.com"] + ADMINS))
            self.assertNotIn("victim", str(message))
        self.assertEqual(len(self.warnings()), 2)


class SourceAddChangedByTests(RecordingMixin, AdminCommandTestCase):

    def setUp(self):
        d = AdminCommandTestCase.setUp(self)

        def more(_):
            self.root = Path(self.mktemp())
            self.root.mkdir()
            self.dsc, self.tarball = writeSource(self.root, "hello",
                                                 "2.10-1")
        return d.addCallback(more)

    @defer.inlineCallbacks
    def requestBuild(self):
        out = yield self.assertSucceeds(
            "build", "request", "ubuntu", "hoary", "i386", "hello",
            "2.10-1")
        return (yield self.store.builds.get(int(out)))

    @defer.inlineCallbacks
    def test_sourceAddFromChanges(self):
        """A .changes names the .dsc and its files, beside it; its
        Changed-By is stored with the source and reaches the build, whose
        failure mails it with the Maintainer."""
        changes = writeChanges(self.root, self.dsc, [self.tarball])
        out = yield self.assertSucceeds(
            "--json", "source", "add", "ubuntu", "hoary", str(changes))
        row = json.loads(out)
        self.assertEqual((row["name"], row["version"], row["changed_by"]),
                         ("hello", "2.10-1", JANE))
        spr = yield self.store.sources.getByNameVersion("hello", "2.10-1")
        self.assertEqual((spr.maintainer, spr.changed_by),
                         ("Me <me@example.com>", JANE))
        files = yield self.store.sources.files(spr.id)
        self.assertEqual([t for _, t in files], ["dsc", "tarball"])
        build = yield self.requestBuild()
        self.assertEqual(build.changed_by, JANE)

        self.startMail()
        recipients, message = yield self.mailFor(dataclasses.replace(
            build, buildstate=BuildStatus.FAILEDTOBUILD))
        self.assertEqual(sorted(recipients), sorted(
            ["jane@example.com", "me@example.com"] + ADMINS))
        self.assertEqual(
            message["To"],
            "Jane Uploader <jane@example.com>, Me <me@example.com>")

    @defer.inlineCallbacks
    def test_sourceAddChangedByOption(self):
        """--changed-by with a .dsc and its files; without it, no
        Changed-By is stored."""
        yield self.assertSucceeds(
            "source", "add", "ubuntu", "hoary", "--changed-by", JANE,
            str(self.dsc), str(self.tarball))
        build = yield self.requestBuild()
        self.assertEqual(build.changed_by, JANE)
        dsc, tarball = writeSource(self.root, "other", "1.0-1")
        yield self.assertSucceeds("source", "add", "ubuntu", "hoary",
                                  str(dsc), str(tarball))
        spr = yield self.store.sources.getByNameVersion("other", "1.0-1")
        self.assertEqual(spr.changed_by, "")

    @defer.inlineCallbacks
    def test_sourceAddChangesRefusals(self):
        """Each is one line and stores nothing."""
        def add(*args):
            return ("source", "add", "ubuntu", "hoary") + args
        nobody = writeChanges(self.root, self.dsc, [self.tarball],
                              changed_by=None, name="nobody.changes")
        yield self.assertFails("nobody.changes has no Changed-By field",
                               *add(str(nobody)))
        bad = writeChanges(self.root, self.dsc, [self.tarball],
                           changed_by="Jane <jane@localhost>",
                           name="bad.changes")
        yield self.assertFails(
            "bad.changes: Changed-By 'Jane <jane@localhost>' is not a "
            "usable mail address", *add(str(bad)))
        yield self.assertFails(
            "Changed-By 'nobody' is not a usable mail address",
            *add("--changed-by", "nobody", str(self.dsc), str(self.tarball)))
        damaged = writeChanges(self.root, self.dsc, [self.tarball],
                               damage=self.tarball.name,
                               name="damaged.changes")
        yield self.assertFails(
            "hello_2.10-1.tar.gz does not match its md5sum in "
            "damaged.changes", *add(str(damaged)))
        other = writeChanges(self.root, self.dsc, [self.tarball],
                             version="2.10-2", name="other.changes")
        yield self.assertFails(
            "other.changes is for hello 2.10-2, but its .dsc is hello "
            "2.10-1", *add(str(other)))
        good = writeChanges(self.root, self.dsc, [self.tarball])
        yield self.assertFails(
            "a .changes lists its files: give no FILES after it",
            *add(str(good), str(self.tarball)))
        yield self.assertFails(
            "give --changed-by or a .changes, not both",
            *add("--changed-by", JANE, str(good)))
        nodsc = writeChanges(self.root, self.tarball, [],
                             name="nodsc.changes")
        yield self.assertFails(
            "nodsc.changes lists no .dsc: only source uploads can be added",
            *add(str(nodsc)))
        self.tarball.rename(self.root / "elsewhere.tar.gz")
        yield self.assertFails(
            "good.changes lists hello_2.10-1.tar.gz, which is not beside it",
            *add(str(good.rename(self.root / "good.changes"))))
        self.assertIsNone(
            (yield self.store.sources.getByNameVersion("hello", "2.10-1")))

    def test_readChanges(self):
        """The .changes' parts as source add uses them."""
        changes = writeChanges(self.root, self.dsc, [self.tarball])
        changed_by, dsc, files = admin.readChanges(changes)
        self.assertEqual((changed_by, dsc, files),
                         (JANE, self.dsc, [self.tarball]))
