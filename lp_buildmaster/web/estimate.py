"""When will a queued job start? A pure estimate, no I/O.

The dashboard, the JSON API and C{buildmaster-admin why} use the same
rule: the usable builders of the job's processor work through the queue
in dispatch order, each job taking the average duration of recent
successful builds of that processor; a busy builder becomes free when its
current job is expected to end.

Times may be C{datetime}s with C{timedelta} durations, or plain numbers
(epoch seconds and seconds): the arithmetic is the same.
"""

import datetime
import heapq

#: The duration assumed for a processor with no successful build yet.
DEFAULT_DURATION = datetime.timedelta(minutes=10)


def estimateStart(position, builders, average_duration, now, busy_until=()):
    """When the job with C{position} jobs ahead of it should start.

    @param position: how many jobs of the same processor will be
        dispatched before this one (0 for the head of the queue).
    @param builders: how many builders can take the job (active, not
        failed, not manual, of its processor), busy ones included.
    @param average_duration: how long one job takes, e.g.
        L{DEFAULT_DURATION} when nothing is known.
    @param now: the current time; nothing is estimated before it.
    @param busy_until: when each busy builder is expected to be free
        (e.g. its job's start plus C{average_duration}); times in the past
        mean "now" (the job is overdue). At most C{builders} of them, the
        earliest, are used; the other builders are free now.
    @return: the estimated start, or None when no builder can take the job.
    """
    if position < 0:
        raise ValueError("position must not be negative")
    if builders <= 0:
        return None
    free_at = _freeTimes(builders, now, busy_until)
    # Each job ahead takes the builder that is free first.
    for _ in range(position):
        heapq.heapreplace(free_at, free_at[0] + average_duration)
    return free_at[0]


def _freeTimes(builders, now, busy_until):
    free_at = sorted(max(now, t) for t in busy_until)[:builders]
    free_at += [now] * (builders - len(free_at))
    heapq.heapify(free_at)
    return free_at


def estimateQueue(jobs, builders, averages, busy, now,
                  default=DEFAULT_DURATION):
    """L{estimateStart} for a whole queue at once, in linear time.

    "Processor" below is any key naming a pool of interchangeable
    builders, e.g. C{(processor id, virtualized)}.

    @param jobs: C{(key, processor)} pairs in dispatch order (the
        processors interleaved or not).
    @param builders: C{{processor: number of usable builders}}.
    @param averages: C{{processor: average duration}}; missing ones use
        C{default}.
    @param busy: C{{processor: [when each busy usable builder started]}}.
    @param now: the current time.
    @return: C{{key: (position, estimated start or None)}}, the position
        counted from 1 within the job's processor.
    """
    free = {}
    seen = {}
    result = {}
    for key, processor in jobs:
        position = seen[processor] = seen.get(processor, 0) + 1
        count = builders.get(processor, 0)
        if count <= 0:
            result[key] = (position, None)
            continue
        duration = averages.get(processor) or default
        if processor not in free:
            free[processor] = _freeTimes(
                count, now, [start + duration
                             for start in busy.get(processor, ())])
        heap = free[processor]
        start = heap[0]
        heapq.heapreplace(heap, start + duration)
        result[key] = (position, start)
    return result
