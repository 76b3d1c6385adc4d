"""``python -m optimizer`` runs the ``tenantplan`` command."""

import sys

from optimizer.cli import main

sys.exit(main())
