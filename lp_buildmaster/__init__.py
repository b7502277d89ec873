"""lp-buildmaster: a Twisted build master for launchpad-buildd farms.

The layers, top to bottom (imports point downward only; the README's
Architecture section lists every module):

- entry points: the twistd plugins (C{twisted/plugins/}), L{service}
  (the master's MultiService), L{admin} (C{buildmaster-admin}), L{web},
  L{manhole}, L{demo};
- actions: L{actions} (who may, audit) over L{operations} (the checked
  changes the CLI and the API share);
- the running farm: L{scanner} (ScannerManager, ownership), L{slavescanner},
  L{buildergroup} (the seed's BuilderGroup: rescue, updateBuild,
  getLogFromSlave) and L{recovery}, L{master} (the seed's BuilddMaster and
  the Dispatcher), L{instant}, L{vmreset}, L{upload}, L{notify},
  L{depwait}, L{why};
- adapters: L{components} registers every one (job behaviours from
  L{behaviours}, ISlave, ILibrarianClient) and L{registry} looks them up;
- clients and storage: L{slave} (the builder client), L{librarian},
  L{store} (PostgreSQL through txpostgres);
- the bottom: L{model}, L{interfaces}, L{enums}, L{config}, L{failures},
  L{text}, L{clock}.

Fakes for tests, benchmarks and the demo farm live in L{testing}.
"""
