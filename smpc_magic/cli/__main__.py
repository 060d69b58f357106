"""``python -m smpc_magic.cli ...`` is the ``smpc`` command."""

import sys

from .commands import main

sys.exit(main())
