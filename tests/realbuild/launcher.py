"""The real launchpad-buildd for the real-build suite: as
tests/realbuilder/launcher.py, but with Debian's apt_pkg (python3-apt, for
the daemon's dependency-wait analysis); only ``apt`` (which it asks for
its own package version) stays a stub."""

import os
import sys
import types

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "realbuilder"))

import launcher as base  # noqa: E402


def installAptStub():
    apt = types.ModuleType("apt")

    class Cache:
        def __getitem__(self, name):
            raise KeyError(name)
    apt.Cache = Cache
    sys.modules["apt"] = apt
    sys.path.append("/usr/lib/python3/dist-packages")
    import apt_pkg
    apt_pkg.init_system()


base._installAptStubs = installAptStub

if __name__ == "__main__":
    base.main(sys.argv[1])
