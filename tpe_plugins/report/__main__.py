"""`python -m tpe_plugins.report SOURCE -o report.html`."""

import sys

from .cli import main

sys.exit(main())
