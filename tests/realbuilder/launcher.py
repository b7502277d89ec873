"""Run the real launchpad-buildd daemon for tests, bound to 127.0.0.1.

Usage: python launcher.py BASEDIR

Reads BASEDIR/buildd.conf (written by the fixture), listens on an
ephemeral 127.0.0.1 port and writes that port number to BASEDIR/port once
it is listening.  Logs to BASEDIR/buildd.log.

This does what lpbuildd's buildd-slave.tac does, minus twistd, plus:
- stubs for ``apt`` and ``apt_pkg`` (Debian's python3-apt, not on PyPI),
  installed only after python-debian has been imported, so that
  python-debian keeps its pure-Python code paths;
- a binary-package manager subclass whose only change is an abort timeout
  taken from the configuration (the real one is hard-coded to 120 s).
"""

import configparser
import os
import sys
import types

# python-debian first: it probes for apt_pkg at import time.
import debian.deb822  # noqa: F401
import debian.debian_support  # noqa: F401


def _installAptStubs():
    try:
        from importlib.metadata import version
        buildd_version = version("launchpad-buildd")
    except Exception:
        buildd_version = None

    apt = types.ModuleType("apt")

    class _Package:
        def __init__(self, ver):
            self.installed = types.SimpleNamespace(version=ver)

    class Cache:
        """Only what XMLRPCBuilder asks: the installed buildd version."""

        def __getitem__(self, name):
            if name == "launchpad-buildd" and buildd_version is not None:
                return _Package(buildd_version)
            raise KeyError(name)

    apt.Cache = Cache
    apt.__stub__ = True

    apt_pkg = types.ModuleType("apt_pkg")

    def _unavailable(*args, **kwargs):
        raise NotImplementedError(
            "apt_pkg is stubbed in the realbuilder test fixture")

    apt_pkg.TagFile = _unavailable
    apt_pkg.parse_depends = _unavailable
    apt_pkg.init_system = lambda: None
    apt_pkg.__stub__ = True

    sys.modules["apt"] = apt
    sys.modules["apt_pkg"] = apt_pkg


def main(basedir):
    # Own process group, so that the fixture can stop the daemon together
    # with any helper it left running.
    try:
        os.setsid()
    except OSError:
        pass

    _installAptStubs()

    from twisted.application import service
    from twisted.internet import reactor
    from twisted.python import log
    from twisted.web import resource, server, static

    from lpbuildd.binarypackage import BinaryPackageBuildManager
    from lpbuildd.builder import XMLRPCBuilder
    from lpbuildd.charm import CharmBuildManager
    from lpbuildd.ci import CIBuildManager
    from lpbuildd.livefs import LiveFilesystemBuildManager
    from lpbuildd.oci import OCIBuildManager
    from lpbuildd.snap import SnapBuildManager
    from lpbuildd.sourcepackagerecipe import SourcePackageRecipeBuildManager
    from lpbuildd.translationtemplates import (
        TranslationTemplatesBuildManager)

    conf = configparser.ConfigParser()
    conf.read(os.path.join(basedir, "buildd.conf"))
    abort_timeout = conf.getfloat("realbuilder", "abort_timeout",
                                  fallback=120.0)

    class TestBinaryPackageBuildManager(BinaryPackageBuildManager):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.abort_timeout = abort_timeout

    logfile = open(os.path.join(basedir, "buildd.log"), "a", buffering=1)
    log.startLogging(logfile, setStdout=True)

    builder = XMLRPCBuilder(conf)
    builder.registerManager(TestBinaryPackageBuildManager, "binarypackage")
    builder.registerManager(
        SourcePackageRecipeBuildManager, "sourcepackagerecipe")
    builder.registerManager(
        TranslationTemplatesBuildManager, "translation-templates")
    builder.registerManager(LiveFilesystemBuildManager, "livefs")
    builder.registerManager(SnapBuildManager, "snap")
    builder.registerManager(OCIBuildManager, "oci")
    builder.registerManager(CharmBuildManager, "charm")
    builder.registerManager(CIBuildManager, "ci")

    # Parent for the services some managers start (e.g. the snap proxy).
    services = service.MultiService()
    builder.builder.service = services
    services.startService()

    root = resource.Resource()
    root.putChild(b"rpc", builder)
    root.putChild(
        b"filecache", static.File(conf.get("builder", "filecache")))
    port = reactor.listenTCP(
        0, server.Site(root), interface=conf.get("builder", "bindhost"))
    portfile = os.path.join(basedir, "port")
    with open(portfile + ".tmp", "w") as f:
        f.write("%d\n" % port.getHost().port)
    os.rename(portfile + ".tmp", portfile)
    log.msg("realbuilder: listening on 127.0.0.1:%d" % port.getHost().port)
    reactor.run()


if __name__ == "__main__":
    main(os.path.abspath(sys.argv[1]))
