"""Which live master scans which builder: rendezvous hashing with a bound.

Every master computes the same answer from the same two lists (the
builders' names and the live masters' names), so no master has to tell
another what to do. Each builder ranks the masters by a hash of the pair
(rendezvous, or highest-random-weight, hashing); a master joining or
leaving changes the ranking of no other pair, so few builders move.

Pure rendezvous hashing is fair only on average: 30 builders over three
masters often gives one master 13 and another 7. So each master takes at
most C{floor(builders / masters)}, and the first C{builders % masters}
masters to fill up one more: builders are placed one by one, in an order
fixed by their own hash, each on the best-ranked master that still has
room. The shares then differ by at most one builder, and a change of the
live set still moves about as many builders as it must.
"""

import hashlib


def weight(builder, master):
    """The rendezvous weight of a (builder, master) pair: an integer both
    sides of any network compute alike."""
    digest = hashlib.blake2b(
        ("%s\0%s" % (builder, master)).encode("utf-8"),
        digest_size=8).digest()
    return int.from_bytes(digest, "big")


def _order(builder):
    return hashlib.blake2b(builder.encode("utf-8"), digest_size=8).digest()


def assign(builders, masters):
    """C{{builder name: master name}} over the live C{masters}.

    @param builders: names of the builders to place.
    @param masters: names of the live masters; empty places nothing.
    @return: a dict with every builder when there is a master.
    """
    masters = sorted(set(masters))
    if not masters:
        return {}
    builders = sorted(set(builders), key=lambda b: (_order(b), b))
    floor, extra = divmod(len(builders), len(masters))
    load = dict.fromkeys(masters, 0)
    result = {}
    for builder in builders:
        ranked = sorted(masters, key=lambda m: (-weight(builder, m), m))
        for master in ranked:
            if load[master] < floor or (load[master] == floor and extra):
                if load[master] == floor:
                    extra -= 1
                load[master] += 1
                result[builder] = master
                break
    return result


def moved(before, after):
    """Names of the builders whose master differs between two
    assignments (a builder only in one of them counts as moved)."""
    return {name for name in set(before) | set(after)
            if before.get(name) != after.get(name)}
