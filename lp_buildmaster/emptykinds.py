"""Which kinds of idle builder have nothing to take, for a while.

A kind is a processor and a virtualization. Once a reservation for a
kind found nothing, idle builders of that kind need not ask the database
again until C{empty_for} seconds have passed or a job of that kind is
queued (instant dispatch hears of it): with thousands of idle builders,
asking at every idle scan costs a transaction each. While one builder of
a kind asks, the others of that kind wait for its answer rather than ask
too, so that the reservations never queue up behind one another.

Imports: Twisted only; the dispatcher gives it its clock and its
reservations.
"""

from twisted.internet import defer


class EmptyKinds:
    """Remembers the kinds a reservation found empty.

    @ivar empty_for: seconds an empty answer holds; 0 remembers nothing
        (every idle builder asks).
    """

    def __init__(self, clock, empty_for=0.0):
        self.clock = clock
        self.empty_for = empty_for
        #: C{{kind: when a reservation found nothing}}
        self._emptySince = {}
        #: C{{kind: when a job was last queued}}
        self._queuedAt = {}
        #: C{{kind: [Deferred]}} of builders waiting for the reservation
        #: in flight for that kind
        self._asking = {}

    def known(self, kind):
        """Whether a reservation for C{kind} found nothing less than
        C{empty_for} seconds ago, and no job was queued since."""
        since = self._emptySince.get(kind)
        return (since is not None
                and self.clock.seconds() - since < self.empty_for
                and self._queuedAt.get(kind, float("-inf")) < since)

    def queued(self, processor, virtualized=None):
        """A job was queued (or given back) for C{processor} and
        C{virtualized} (None: either): its kind is not empty any more."""
        now = self.clock.seconds()
        for v in ((True, False) if virtualized is None else (virtualized,)):
            self._queuedAt[(processor, v)] = now
            self._emptySince.pop((processor, v), None)

    @defer.inlineCallbacks
    def reserve(self, kind, reserve):
        """C{reserve()}'s reservation for a builder of C{kind}, or None
        without asking when the kind is known empty (also once the
        reservation in flight for the kind, waited for, found nothing).

        @param reserve: makes the reservation: a Deferred firing with a
            L{Reservation} or None.
        """
        if self.known(kind):
            return None
        while self.empty_for and kind in self._asking:
            # Another idle builder of this kind is asking: its answer
            # serves this one too, unless it found a job.
            waiter = defer.Deferred()
            self._asking[kind].append(waiter)
            yield waiter
            if self.known(kind):
                return None
        first = bool(self.empty_for)
        if first:
            self._asking[kind] = []
        started = self.clock.seconds()
        try:
            reservation = yield reserve()
            if (self.empty_for and (reservation is None or (
                    reservation.queue_id is None
                    and not reservation.superseded))
                    and self._queuedAt.get(kind, float("-inf")) < started):
                self._emptySince[kind] = started
        finally:
            if first:
                for waiter in self._asking.pop(kind):
                    waiter.callback(None)
        return reservation
