"""How a simulated builder's builds go: L{BuildProfile} and the named
L{PROFILES} (C{--profile} of the program).

Imports only C{constants}.
"""

import dataclasses
from typing import Mapping, Tuple

from lp_buildmaster.testing.simulator.constants import OUTCOMES


@dataclasses.dataclass(frozen=True)
class BuildProfile:
    """How a builder's builds go.

    @ivar duration: C{(min, max)} seconds a build takes (uniform).
    @ivar log_size: C{(min, max)} bytes of a finished build's log (uniform,
        give or take the length of its last lines)
    @ivar outcomes: C{{outcome: weight}} over L{OUTCOMES}.  A CHROOTFAIL
        build fails while unpacking: it takes 5% of its drawn duration.
    @ivar dependencies: what a DEPFAIL build says it waits for.
    @ivar abort_delay: seconds from abort() to WAITING/ABORTED.
    @ivar unkillable: abort() cannot kill the build: it stays ABORTING for
        C{abort_timeout} seconds and ends in BUILDERFAIL, as the real
        daemon does when its process reaper hangs.
    @ivar hang_rate: chance an XML-RPC call is taken and never answered.
    @ivar refuse_rate: chance an XML-RPC call's connection is reset.
    @ivar garbage_rate: chance an XML-RPC call is answered with non-XML.
    """

    duration: Tuple[float, float] = (30.0, 300.0)
    log_size: Tuple[int, int] = (10000, 200000)
    outcomes: Mapping[str, float] = dataclasses.field(default_factory=lambda: {
        "OK": 0.85, "PACKAGEFAIL": 0.07, "DEPFAIL": 0.03, "CHROOTFAIL": 0.01,
        "GIVENBACK": 0.02, "BUILDERFAIL": 0.02})
    dependencies: str = "libfoo-dev (>= 1.2)"
    abort_delay: float = 1.0
    unkillable: bool = False
    abort_timeout: float = 120.0
    hang_rate: float = 0.0
    refuse_rate: float = 0.0
    garbage_rate: float = 0.0

    def __post_init__(self):
        lo, hi = self.duration
        if not 0 <= lo <= hi:
            raise ValueError("duration must be (min, max) with 0 <= min <= "
                             "max, not %r" % (self.duration,))
        lo, hi = self.log_size
        if not 0 <= lo <= hi:
            raise ValueError("log_size must be (min, max) with 0 <= min <= "
                             "max, not %r" % (self.log_size,))
        unknown = set(self.outcomes) - set(OUTCOMES)
        if unknown:
            raise ValueError("unknown outcomes %s; choose from %s" % (
                ", ".join(sorted(unknown)), ", ".join(OUTCOMES)))
        weights = list(self.outcomes.values())
        if any(w < 0 for w in weights) or not sum(weights) > 0:
            raise ValueError("outcome weights must be >= 0 with a positive "
                             "sum, not %r" % (dict(self.outcomes),))
        for name in ("hang_rate", "refuse_rate", "garbage_rate"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError("%s must be within [0, 1]" % name)
        if self.abort_delay < 0 or self.abort_timeout < 0:
            raise ValueError("abort_delay and abort_timeout must be >= 0")
        # Frozen: keep a private table for fast draws.
        object.__setattr__(self, "_table", (
            tuple(self.outcomes), tuple(self.outcomes.values())))

    def replace(self, **changes):
        """A copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    @property
    def faulty(self):
        return bool(self.hang_rate or self.refuse_rate or self.garbage_rate)

    def draw(self, rng):
        """C{(outcome, duration, log_size)} for one build."""
        names, weights = self._table
        outcome = rng.choices(names, weights)[0]
        duration = rng.uniform(*self.duration)
        log_size = rng.randint(int(self.log_size[0]), int(self.log_size[1]))
        if outcome == "CHROOTFAIL":
            # Unpacking the chroot fails before anything is built.
            duration *= 0.05
            log_size = min(log_size, 4000)
        return outcome, duration, log_size


PROFILES = {
    # make run: builds of a minute or two with readable logs.
    "demo": BuildProfile(duration=(20.0, 120.0), log_size=(20000, 400000)),
    # quick turn-over for tests and small benchmarks.
    "fast": BuildProfile(duration=(0.5, 3.0), log_size=(2000, 20000)),
    # many builders: long builds, small logs, so the load is status() calls.
    "scale": BuildProfile(duration=(120.0, 900.0), log_size=(2000, 16000)),
}
