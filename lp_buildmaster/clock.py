"""The default clock: the global reactor, imported only when needed.

Every timer in the master takes its clock (an C{IReactorTime}) as a
parameter, so that tests drive time with C{twisted.internet.task.Clock};
L{orReactor} gives the running reactor to whoever passed none. The
reactor is imported at call time, never at import time, so that importing
a module never installs the default reactor before twistd has chosen one.

Imports: Twisted only; everything in the package may import it.
"""


def orReactor(given=None):
    """C{given}, or the global reactor when it is None (as a clock, or as
    a reactor to spawn processes and make connections with)."""
    if given is not None:
        return given
    from twisted.internet import reactor
    return reactor
