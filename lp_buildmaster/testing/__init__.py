"""Fake builders (and fakes of the master's other collaborators) for tests,
benchmarks and the demo, as Buildbot keeps its fakes under buildbot/test/fake.

- C{simulator/}: L{SimulatedFarm}, many simulated launchpad-buildd builders
  speaking the real protocol over loopback HTTP in one process, and its
  C{python -m lp_buildmaster.testing.simulator} program (benchmarks run it
  in a process of its own); its C{__init__} lists its modules;
- C{mockslaves}: the seed's mock slaves (C{OkSlave}, C{WaitingSlave}, ...),
  in-process L{ISlave} providers that answer as the seed's doctest expects;
- C{fakestore} (with C{fakejobs} and C{fakeworld}): L{FakeStore}, the store
  in memory with the seed's sample data, providing L{IStore} and every
  component's interface, for logic tests without PostgreSQL
  (tests/test_store_contract*.py hold it and the real store to one
  contract).

What lives here may import from any layer of the project (it fakes the
outside world for all of them) but nothing in tests/ or benchmarks/.
Production code imports from here only for C{make run}'s demo farm
(L{lp_buildmaster.demo}); nothing else on the production path may.
"""
