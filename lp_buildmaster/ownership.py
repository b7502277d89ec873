"""Masters sharing a database: heartbeat, fencing and handover.

L{Ownership} is the part of L{lp_buildmaster.scanner.ScannerManager}
that lets several masters share one database. With an C{owner}, the
manager heartbeats four times per interval (L{MasterStore.heartbeat}), on
the manager's C{beats} store (a connection of its own in the service, so
that no refresh or release queues a heartbeat); a master whose last
heartbeat is one interval old is dead to the others.
It computes which builders are its own from the live masters
(L{lp_buildmaster.assignment.assign}), takes those at each refresh, and
hands over those it holds but no longer wants only once their scan in
flight has ended. It fences itself: when its last successful heartbeat
was sent three quarters of an interval ago, or after such a gap until a
refresh has shown which builders are still its own, it starts no scan,
so that no builder is ever scanned by two masters.

Imports: the assignment, metrics and the slave scanner's C{usable};
nothing above (the manager mixes it in).
"""

import collections

from twisted.internet import defer

from lp_buildmaster import metrics
from lp_buildmaster.assignment import assign
from lp_buildmaster.slavescanner import usable


def _few(names, count=5):
    """The first C{count} of C{names}, and how many more."""
    names = sorted(names)
    more = len(names) - count
    return ", ".join(names[:count]) + (" and %d more" % more
                                       if more > 0 else "")


class Ownership:
    """Heartbeat, fencing and handover of a L{ScannerManager} (a mixin:
    it works on the manager's own attributes, set in its C{__init__})."""

    #: Whether a release of builders whose scans ended is in flight
    #: (the manager's C{_releaseBatch} holds those waiting for it).
    _releaseFlushing = False

    #: Heartbeats per interval.
    BEATS = 4
    #: Fraction of the heartbeat lifetime after which a master stops
    #: starting scans of its own accord, before the others may judge it
    #: dead.
    FENCE = 0.75

    def _dbnow(self):
        return None if self.dbclock is None else self.dbclock()

    def fenced(self):
        """Whether this master may start no scan now: it is not sure that
        the others still count it alive, or it has not yet learnt which
        builders are still its own."""
        if self.owner is None:
            return False
        return (self._beatSent is None or self._gapAt is not None
                or self.clock.seconds() - self._beatSent
                >= self.FENCE * self.lifetime)

    def heartbeat(self):
        """One heartbeat; never fails, so the LoopingCall never dies."""
        sent = self.clock.seconds()
        d = self._beating = self.beats.masters.heartbeat(
            self.owner, self.lifetime, now=self._dbnow(),
            web_url=self.web_url, librarian_url=self.librarian_url)
        d.addCallbacks(self._beaten, self._beatFailed, callbackArgs=(sent,))

        def done(result):
            self._beating = None
            return result
        return d.addBoth(done)

    def _beaten(self, masters, sent):
        now = self.clock.seconds()
        if (self._beatSent is None
                or now - self._beatSent >= self.FENCE * self.lifetime):
            # The others may have judged us dead meanwhile, and taken
            # builders: scan nothing until a refresh says what is ours.
            self._gapAt = sent
        self._beatSent = sent
        if self._beatFailing:
            self._beatFailing = False
            self.logger.info("master '%s': heartbeat works again",
                             self.owner)
        self.masters = masters
        live = tuple(m.name for m in masters if m.live)
        if live != self.live:
            self.logger.info("master '%s': live masters now %s",
                             self.owner, ", ".join(live))
            self.live = live
            self.refresh()
        elif self._gapAt is not None:
            self.refresh()

    def _beatFailed(self, failure):
        self.database.check(failure)
        # Logged once per outage: the next success says so.
        if not self._beatFailing:
            self._beatFailing = True
            self.logger.warning(
                "master '%s': heartbeat failed (%s); scans stop after %.1f s "
                "without one, and other masters take the builders after "
                "%.1f s", self.owner, failure.getErrorMessage(),
                self.FENCE * self.lifetime, self.lifetime)

    def _wanted(self):
        """Names of the usable builders the assignment gives this master,
        from the owners seen at the last refresh and the live masters."""
        names = frozenset(name for name, (owner, ok) in self.owners.items()
                          if ok)
        key = (names, self.live)
        if self._assignment[0] != key:
            mine = assign(names, self.live)
            self._assignment = (key, frozenset(
                name for name, master in mine.items()
                if master == self.owner))
        return self._assignment[1]

    @defer.inlineCallbacks
    def _leased(self):
        """Take the builders the assignment gives this master, and read
        their vitals (L{JobStore.leasedVitals})."""
        for attempt in range(2):
            sent = self.clock.seconds()
            wanted = self._wanted()
            result = yield self.control.jobs.leasedVitals(
                self.owner, wanted, self.vitals, now=self._dbnow())
            self.owners = result.owners
            # The first refresh, or new builders: take at once what
            # the assignment over the builders as they are gives.
            if self._wanted() == wanted:
                break
        if self._gapAt is not None and sent >= self._gapAt:
            self._gapAt = None
        self._counted(result.taken)
        return result.vitals

    @defer.inlineCallbacks
    def _letGo(self):
        """Stop scanning the builders no longer scanned here: handed over
        (released once their scan ends), taken by another master, removed
        or disabled; release those held without a scanner."""
        # A handover moves many builders at once: one line per kind of
        # move and per master, not one per builder.
        handed, taken = [], collections.defaultdict(list)
        for name in list(self.scanners):
            vitals = self.vitals.get(name)
            if vitals is None or not usable(vitals.builder):
                owner, ok = self.owners.get(name, (None, False))
                if self.owner is not None and owner == self.owner and ok:
                    handed.append(name)
                    self._releaseAfter(name, self.scanners.pop(name))
                    continue
                if self.owner is not None and owner == self.owner:
                    self.logger.info("Builder '%s' disabled; released once "
                                     "its scan ends", name)
                    self._releaseAfter(name, self.scanners.pop(name))
                    continue
                if owner is not None and owner != self.owner:
                    taken[owner].append(name)
                else:
                    self.logger.info("Builder '%s' removed or disabled; no "
                                     "longer scanned", name)
                self._retire(self.scanners.pop(name))
        if handed:
            self.logger.info("%d builders handed over, each released once "
                             "its scan ends: %s", len(handed), _few(handed))
        for owner, names in sorted(taken.items()):
            self.logger.warning(
                "%d builders were taken by master '%s' (this master was "
                "judged dead); no longer scanned here: %s", len(names),
                owner, _few(names))
        if self.owner is not None:
            # Held without a scanner (after a restart), or whose scanner
            # has just stopped between scans: released at once.
            release = self._releaseNow + [
                name for name, (owner, ok) in self.owners.items()
                if owner == self.owner and name not in self.vitals
                and name not in self._releasing]
            self._releaseNow = []
            if release:
                yield self._release(release)

    def _counted(self, taken):
        for name, previous in taken.items():
            self.counts["taken"] += 1
            metrics.HANDOVERS.labels("taken").inc()
            if previous is not None and previous != self.owner:
                self.counts["failovers"] += 1
                metrics.FAILOVERS.inc()
        dead = sorted({previous for previous in taken.values()
                       if previous is not None and previous != self.owner})
        for master in dead:
            names = sorted(name for name, previous in taken.items()
                           if previous == master)
            self.logger.warning(
                "master '%s' is dead: took %d of its builders: %s",
                master, len(names), _few(names))

    def _releaseAfter(self, name, scanner):
        """Stop C{scanner}, then release its builder: never mid-scan.
        Builders with no scan in flight are released together at the end
        of the refresh, in one statement; the others as their scans end,
        batched by L{_releaseEnded}."""
        self._releasing.add(name)
        d = scanner.stop()
        if d.called:
            self._releaseNow.append(name)
            return
        d.addCallback(lambda _: self._releaseEnded(name))
        self._retiring[d] = name
        d.addBoth(lambda _: self._retiring.pop(d, None))

    def _releaseEnded(self, name):
        """Release C{name}, whose scan has ended; fires once released.

        One such release is in flight at a time: the builders whose scans
        end meanwhile go together in the next statement. (One statement
        each, a handover of thousands of builders sent thousands of
        releases, each waking every other master to refresh, and the
        heartbeats waited behind them until the master was judged dead.)
        """
        waiter = defer.Deferred()
        self._releaseBatch.append((name, waiter))
        if not self._releaseFlushing:
            self._flushReleases()
        return waiter

    @defer.inlineCallbacks
    def _flushReleases(self):
        self._releaseFlushing = True
        try:
            while self._releaseBatch:
                batch, self._releaseBatch = self._releaseBatch, []
                yield self._release([name for name, _ in batch])
                for _, waiter in batch:
                    waiter.callback(None)
        finally:
            self._releaseFlushing = False

    @defer.inlineCallbacks
    def _release(self, names):
        self._releasing.update(names)
        try:
            yield self.control.jobs.release(self.owner, names)
            self.counts["released"] += len(names)
            metrics.HANDOVERS.labels("released").inc(len(names))
        except Exception as e:
            # Still ours in the database: the next refresh tries again.
            self.logger.warning("master '%s': releasing %s failed: %s",
                                self.owner, ", ".join(sorted(names)), e)
        finally:
            self._releasing.difference_update(names)
