"""``python -m sigreport``: the same as the ``sigreport`` command."""

import sys

from sigreport.cli import main

sys.exit(main())
