"""`python -m flowpack` is the `flowpack` command."""

import sys

from ._cli import main

sys.exit(main())
