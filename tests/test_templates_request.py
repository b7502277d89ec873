"""Requesting a translation-templates build: from buildmaster-admin (``build
request ... --job-type translation-templates --branch URL``) and from the
JSON API (``POST /api/builds`` with ``job_type`` and ``branch``), one code
path (L{lp_buildmaster.actions}, L{lp_buildmaster.operations}) with the
same checks and one-line messages; ``build show`` and ``build list`` say
each build's job type.
"""

import json

from twisted.internet import defer
from twisted.trial import unittest

from lp_buildmaster.enums import BuildStatus
from lp_buildmaster.operations import (
    MAX_BRANCH_URL, Refused, checkBranchURL, checkJobType)
from tests.test_admin import AdminCommandTestCase
from tests.test_web_actions import ActionTestCase

BRANCH = "https://git.example.org/pmount/+git/pmount"
#: pmount 0.1-1 is published in ubuntu hoary RELEASE (sample build 7).
REQUEST = ("build", "request", "ubuntu", "hoary", "i386", "pmount", "0.1-1")


class BranchAndJobTypeCheckTests(unittest.TestCase):
    """The checks alone (no database)."""

    def test_goodBranchURLs(self):
        for url in (BRANCH, "http://bzr.example.org/pmount/trunk",
                    "git://git.example.org/pmount.git",
                    "git+ssh://git@git.example.org:2222/pmount",
                    "bzr+ssh://bazaar.example.org/~team/pmount/trunk",
                    "https://10.0.0.7/pmount?ref=main"):
            self.assertEqual(checkBranchURL(url), url)

    def test_badBranchURLs(self):
        cases = [
            ("ftp://example.org/pmount", "the scheme must be one of https, "
             "http, git, git+ssh, ssh, bzr, bzr+ssh"),
            ("/srv/pmount", "the scheme must be one of https, http, git, "
             "git+ssh, ssh, bzr, bzr+ssh"),
            ("https://example.org/pm ount", "it holds white space or "
             "control characters"),
            ("https://example.org/pm\x00ount", "it holds white space or "
             "control characters"),
            ("https://me:secret@example.org/pmount", "no password"),
            ("git+ssh://me:secret@example.org/pmount", "no password"),
            ("https://me@example.org/pmount",
             "no password; a user name only with ssh"),
            ("https://example.org:99999/pmount",
             "the port must be a number from 1 to 65535"),
            ("https://example.org/pmount#main", "no fragment"),
            ("https://example.org/", "no path to the branch"),
            ("https://example.org", "no path to the branch"),
            ("https://exa_mple.org/pmount", "bad host name"),
            ("https:///pmount", "no host"),
        ]
        for url, problem in cases:
            e = self.assertRaises(Refused, checkBranchURL, url)
            self.assertEqual(str(e), "malformed branch URL %r (%s)"
                             % (url, problem))
        e = self.assertRaises(Refused, checkBranchURL,
                              "https://example.org/" + "a" * MAX_BRANCH_URL)
        self.assertEqual(str(e), "malformed branch URL: longer than %d "
                         "characters" % MAX_BRANCH_URL)

    def test_jobTypes(self):
        self.assertEqual(checkJobType("binarypackage", {"branch": None}),
                         "binarypackage")
        self.assertEqual(
            checkJobType("translation-templates", {"branch": BRANCH}),
            "translation-templates")
        for job_type, branch, message in [
                ("sourcepackagerecipe", None, "job type "
                 "'sourcepackagerecipe' cannot be requested; choose one of "
                 "binarypackage, translation-templates"),
                ("translation-templates", None,
                 "a translation-templates build needs a branch"),
                ("translation-templates", "", "a translation-templates "
                 "build needs a branch"),
                ("binarypackage", BRANCH,
                 "only a translation-templates build takes a branch")]:
            e = self.assertRaises(Refused, checkJobType, job_type,
                                  {"branch": branch})
            self.assertEqual(str(e), message)


class TemplatesCommandTests(AdminCommandTestCase):
    """buildmaster-admin as a subprocess, on the test's database."""

    @defer.inlineCallbacks
    def test_requestShowAndList(self):
        out = yield self.assertSucceeds(
            *REQUEST, "--job-type", "translation-templates",
            "--branch", BRANCH)
        build_id = int(out)
        build = yield self.store.builds.get(build_id)
        self.assertEqual((build.job_type, build.buildstate),
                         ("translation-templates", BuildStatus.NEEDSBUILD))
        self.assertEqual(
            (yield self.store.jobtypes.translationTemplates(build_id)),
            BRANCH)
        self.assertIsNotNone((yield self.store.queue.getByBuild(build_id)))

        row = json.loads((yield self.assertSucceeds(
            "build", "show", str(build_id), "--json")))
        self.assertEqual((row["job_type"], row["title"]), (
            "translation-templates", "i386 translation-templates build of "
            "pmount 0.1-1 in ubuntu hoary RELEASE"))
        out = yield self.assertSucceeds("build", "show", str(build_id))
        self.assertIn("job_type:      translation-templates\n", out)
        out = yield self.assertSucceeds("build", "show", "10")
        self.assertIn("job_type:      binarypackage\n", out)

        out = yield self.assertSucceeds("build", "list", "--limit", "2")
        lines = out.splitlines()
        self.assertEqual(lines[0].split(),
                         ["ID", "TYPE", "STATE", "BUILDER", "SCORE", "TITLE"])
        self.assertEqual(lines[1].split()[:3], [
            str(build_id), "translation-templates", "NEEDSBUILD"])
        self.assertEqual(lines[2].split()[:3],
                         ["10", "binarypackage", "NEEDSBUILD"])
        rows = json.loads((yield self.assertSucceeds(
            "--json", "build", "list", "--limit", "2")))
        self.assertEqual([r["job_type"] for r in rows],
                         ["translation-templates", "binarypackage"])

        # The same request again is a duplicate; the audit names the type.
        yield self.assertFails(
            "translation-templates build %d of pmount 0.1-1 for i386 in "
            "ubuntu hoary RELEASE (archive primary) is NEEDSBUILD already"
            % build_id, *REQUEST, "--job-type", "translation-templates",
            "--branch", BRANCH)
        rows = yield self.query(
            "SELECT action, detail FROM auditlog WHERE build = %s",
            (build_id,))
        self.assertEqual([(r["action"], r["detail"]) for r in rows], [
            ("build request", "translation-templates of pmount 0.1-1 ubuntu "
             "hoary i386 (release, primary) from %s" % BRANCH)])

    @defer.inlineCallbacks
    def test_refusals(self):
        """Each refusal is one line, exit 1, and requests nothing."""
        before = yield self.query("SELECT count(*) AS n FROM build")
        yield self.assertFails(
            "a translation-templates build needs a branch",
            *REQUEST, "--job-type", "translation-templates")
        yield self.assertFails(
            "malformed branch URL 'file:///srv/pmount' (the scheme must be "
            "one of https, http, git, git+ssh, ssh, bzr, bzr+ssh)",
            *REQUEST, "--job-type", "translation-templates",
            "--branch", "file:///srv/pmount")
        yield self.assertFails(
            "only a translation-templates build takes a branch",
            *REQUEST, "--branch", BRANCH)
        yield self.assertFails(
            "job type 'snap' cannot be requested; choose one of "
            "binarypackage, translation-templates", *REQUEST,
            "--job-type", "snap")
        # The names are checked as for any build.
        yield self.assertFails(
            "unknown series 'breezy' of ubuntu",
            "build", "request", "ubuntu", "breezy", "i386", "pmount",
            "0.1-1", "--job-type", "translation-templates",
            "--branch", BRANCH)
        yield self.assertFails(
            "source pmount 0.1-1 is not published in ubuntu hoary SECURITY "
            "(archive primary)", *REQUEST, "--pocket", "security",
            "--job-type", "translation-templates", "--branch", BRANCH)
        after = yield self.query("SELECT count(*) AS n FROM build")
        self.assertEqual(after[0]["n"], before[0]["n"])


class TemplatesAPITests(ActionTestCase):
    """POST /api/builds over HTTP, through the same action."""

    @defer.inlineCallbacks
    def test_requestThroughTheAPI(self):
        olga = self.tokens["olga"]
        body = {"distribution": "ubuntu", "series": "hoary", "arch": "i386",
                "source": "pmount", "version": "0.1-1",
                "job_type": "translation-templates", "branch": BRANCH}
        build = yield self.call("POST", "/api/builds", body, token=olga,
                                code=201)
        self.assertEqual((build["job_type"], build["state"]),
                         ("translation-templates", "NEEDSBUILD"))
        self.assertEqual(
            (yield self.store.jobtypes.translationTemplates(build["id"])),
            BRANCH)
        audit = yield self.call("GET", "/api/audit?build=%d" % build["id"])
        self.assertEqual([(a["actor"], a["action"], a["detail"])
                          for a in audit], [
            ("olga", "build request", "translation-templates of pmount "
             "0.1-1 ubuntu hoary i386 (release, primary) from %s" % BRANCH)])

        # The CLI's messages, as 400s.
        error = yield self.call("POST", "/api/builds", dict(
            body, branch="https://me:pw@example.org/pmount"), token=olga,
            code=400)
        self.assertEqual(error["error"], "malformed branch URL "
                         "'https://me:pw@example.org/pmount' (no password)")
        error = yield self.call("POST", "/api/builds", dict(
            body, branch=None), token=olga, code=400)
        self.assertEqual(error["error"],
                         "a translation-templates build needs a branch")
        error = yield self.call("POST", "/api/builds", dict(
            body, job_type="livefs"), token=olga, code=400)
        self.assertEqual(error["error"], "job type 'livefs' cannot be "
                         "requested; choose one of binarypackage, "
                         "translation-templates")
        error = yield self.call("POST", "/api/builds", body, token=olga,
                                code=400)
        self.assertIn("is NEEDSBUILD already", error["error"])
        # A viewer may not request one.
        yield self.call("POST", "/api/builds", body,
                        token=self.tokens["vera"], code=403)
