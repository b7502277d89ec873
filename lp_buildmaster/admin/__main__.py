"""C{python -m lp_buildmaster.admin}, as C{buildmaster-admin}."""

import sys

from lp_buildmaster.admin.main import main

sys.exit(main())
