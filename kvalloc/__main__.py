"""``python -m kvalloc``: the same as the ``kvalloc`` command."""

import sys

from .tools.cli import main

sys.exit(main())
