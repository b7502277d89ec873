"""A simulated build farm: many fake launchpad-buildd builders in one process.

Each L{SimulatedBuilder} speaks the builder protocol as the real daemon does
(see PROTOCOL.md): XML-RPC at C{<url>rpc}, files at C{<url>filecache/<sha1>},
the build log at C{<url>filecache/buildlog}.  A builder is a small object of
state; all builders of a farm share one listening port and are told apart by
the first path segment, so a builder's URL is
C{http://127.0.0.1:PORT/<name>/}.  (A builder may also get a port of its own,
L{SimulatedFarm.listenBuilder}, and then its URL is C{http://127.0.0.1:P/}.)

Builds run on an injectable clock.  Nothing ticks while a build runs: a
build is a start time, a duration and an outcome, drawn from the builder's
L{BuildProfile} with a random generator seeded from the farm's seed, the
builder's name and the build's number, and one timer for its end.  The build
log is generated on demand from the same seed: its bytes at any offset can
be computed without the bytes before them, so a log of any size is served
streamed and the logtail is cheap.

Faults: a builder that is C{down} resets every connection, one that
C{hang}s takes requests and never answers, one that talks C{garbage}
answers XML-RPC calls with a body that is not XML.  The same three can be
drawn per call with the profile's C{hang_rate}, C{refuse_rate} and
C{garbage_rate}.

Run as a program it serves a farm until killed::

    python -m lp_buildmaster.testing.simulator --builders 100 --port 0 \
        --profile fast

and prints one JSON line once listening: C{{"port": P, "pid": ...,
"url_template": "http://127.0.0.1:P/{name}/", "builders": {name: url}}}.

The package's modules, each importing only those above it in this list:

- C{constants}: protocol version, build types, outcomes, states, limits;
- C{profiles}: L{BuildProfile} and the named L{PROFILES};
- C{buildlog}: L{BuildLog}, generated on demand, with its header and trailer;
- C{results}: a finished build's files (.debs, .buildinfo, .changes);
- C{builder}: L{SimulatedBuilder}, its state and XML-RPC methods;
- C{rpc}: answering XML-RPC calls, with the faults a builder is set to;
- C{web}: the listening site, routing, file and log downloads;
- C{farm}: L{SimulatedFarm}, the builders together, ensurepresent()
  downloads;
- C{cli}: the program (C{__main__} runs it).

Every name listed in C{__all__} is importable from the package itself.
"""

from lp_buildmaster.testing.simulator.builder import SimulatedBuilder
from lp_buildmaster.testing.simulator.buildlog import BuildLog
from lp_buildmaster.testing.simulator.cli import main
from lp_buildmaster.testing.simulator.constants import (
    BUILD_TYPES, BUILDER_VERSION, OUTCOMES, PROTOCOL_VERSION)
from lp_buildmaster.testing.simulator.farm import SimulatedFarm
from lp_buildmaster.testing.simulator.profiles import BuildProfile, PROFILES
from lp_buildmaster.testing.simulator.results import (
    makeBinaryResults, makeDeb)

__all__ = [
    "SimulatedFarm", "SimulatedBuilder", "BuildProfile", "PROFILES",
    "OUTCOMES", "BUILD_TYPES", "PROTOCOL_VERSION", "BUILDER_VERSION", "main",
    "BuildLog", "makeBinaryResults", "makeDeb",
]
