#!/usr/bin/env python3
"""The two quickstart commands, for a fresh clone with only Python 3.11+ on the machine.

    python3 run.py demo   # install, then sync a month of the whole simulated market
    python3 run.py test   # install (with dev tools), then lint, type-check and run the tests

Each creates ./.venv and installs stocksync into it when needed. Extra arguments after
``demo`` go to ``stocksync sync``; after ``test``, to pytest.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"
DEMO_ARGS = [
    "--start", "2026-10-01", "--end", "2026-10-31", "--periods", "daily,weekly,monthly",
    "--datasets", "bars,adj_factors,valuations,index_bars,index_members", "--source", "sim",
]  # fmt: skip


def install(extra: str) -> None:
    """Create the venv and install stocksync (editable) unless it is already up to date."""
    if sys.version_info < (3, 11):  # noqa: UP036 - run.py runs before the venv exists
        sys.exit(f"stocksync needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    stamp = VENV / f".installed-{extra or 'base'}"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest and PY.exists():
        return
    if not PY.exists():
        print(f"creating {VENV} …", flush=True)
        venv.create(VENV, with_pip=True)
    target = f".[{extra}]" if extra else "."
    print(f"installing stocksync{f' [{extra}]' if extra else ''} into .venv …", flush=True)
    subprocess.run(
        [str(PY), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-e", target],
        cwd=ROOT,
        check=True,
    )
    stamp.write_text(digest)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("demo", "test"):
        print(__doc__)
        return 2
    command, rest = argv[0], argv[1:]
    if command == "demo":
        install("")
        args = rest or DEMO_ARGS
        if not any(arg == "--source" or arg.startswith("--source=") for arg in args):
            args = [*args, "--source", "sim"]  # the demo is the simulated market, in its store
        return subprocess.call([str(BIN / "stocksync"), "sync", *args], cwd=ROOT)
    install("dev")
    for check in (["ruff", "check", "."], ["mypy", "stocksync"]):
        failed = subprocess.call([str(PY), "-m", *check], cwd=ROOT)
        if failed:
            return failed
    return subprocess.call([str(PY), "-m", "pytest", *rest], cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
