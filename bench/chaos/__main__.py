"""``python -m bench.chaos``: run the chaos matrix and print its table (see ``--help``)."""

from __future__ import annotations

import sys

from bench.chaos.runner import main

if __name__ == "__main__":
    sys.exit(main())
