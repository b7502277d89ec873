"""Shared code of the fake builder helpers (stdlib only).

The helpers in this directory stand in for the programs that the real
launchpad-buildd binary-package manager runs (``builder-prep``, ``in-target``,
``sbuild-package`` and ``sudo``).  They run as the daemon's children, inherit
its environment and find the fixture's directory in ``$REALBUILDER_DIR``.
What they do next is decided by ``$REALBUILDER_DIR/control.json``, written by
``RealBuilder.setOutcome``.
"""

import hashlib
import json
import os
import signal
import sys
import time


def baseDir():
    return os.environ["REALBUILDER_DIR"]


def readControl():
    """Return the outcome the fixture asked for (a dict)."""
    path = os.path.join(baseDir(), "control.json")
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return {"outcome": "OK"}


def buildPath(build_id, *extra):
    """The build directory, as the daemon computes it ($HOME/build-ID)."""
    return os.path.join(os.environ["HOME"], "build-" + build_id, *extra)


def recordCall(name, argv):
    """Append one line describing a helper call to calls.log (for tests).

    Each line is a JSON object: {"helper": name, "args": [...],
    "time": epoch seconds}.
    """
    with open(os.path.join(baseDir(), "calls.log"), "a") as f:
        f.write(json.dumps({"helper": name, "args": list(argv),
                            "time": time.time()}) + "\n")


def pidFile(build_id):
    """Where "processes in the chroot" register, for scan-for-processes."""
    return buildPath(build_id, "chroot-autobuild", "var", "run", "fake-pids")


def registerChrootProcess(build_id):
    """Pretend this process runs inside the build's chroot."""
    path = pidFile(build_id)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a") as f:
        f.write("%d\n" % os.getpid())


def chrootProcesses(build_id):
    """The registered chroot processes that are still alive."""
    try:
        with open(pidFile(build_id)) as f:
            pids = [int(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []
    alive = []
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        except PermissionError:
            continue
        # Zombies still answer kill(0); treat them as gone.
        try:
            with open("/proc/%d/stat" % pid) as f:
                if f.read().split(") ", 1)[1].startswith("Z"):
                    continue
        except (OSError, IndexError):
            pass
        alive.append(pid)
    return alive


def killChrootProcesses(build_id):
    """SIGKILL every registered process; return how many were signalled."""
    pids = chrootProcesses(build_id)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return len(pids)


def say(text):
    sys.stdout.write(text)
    sys.stdout.flush()


def hashes(data):
    return {
        "md5": hashlib.md5(data).hexdigest(),
        "sha1": hashlib.sha1(data).hexdigest(),
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
    }


def sleepQuietly(seconds):
    if seconds > 0:
        time.sleep(seconds)
