"""The master's model: pure data and pure rules, no I/O.

- L{records}: frozen snapshots of database rows (builders, builds, queue
  entries, ...), adapted to IBuilder, IBuild and IBuildQueue;
- L{policy}: which pockets a series may build for;
- L{failure}: judging a failure (whose fault, retry or not), the pure half
  beside the acting L{lp_buildmaster.recovery};
- L{archivedeps}: the sources.list lines and keys a build gets;
- L{packages}, L{names}: Debian names, versions and file names, checked once;
- L{builderstate}: the one answer to "what state is this builder in".

Imports: only L{lp_buildmaster.enums}, L{lp_buildmaster.text},
L{lp_buildmaster.interfaces} and each other; everything above (store,
scanner, dispatcher, web, admin) may import from here.
"""
