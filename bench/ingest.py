"""The ingest benchmark's entry point: ``python -m bench.ingest`` or ``python bench/ingest.py``.

See bench/README.md for what it measures; the work is in :mod:`bench.runner`.
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (see ``--help``)."""
    from bench.runner import main as run

    return run(argv)


if __name__ == "__main__":
    if not __package__:  # run as a script: make ``bench`` and stocksync importable
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.exit(main())
