"""C{python -m lp_buildmaster.testing.simulator}: see L{cli}."""

import sys

from lp_buildmaster.testing.simulator.cli import main

sys.exit(main())
