"""The library stays a library: importing every stocksync module pulls in neither Flask nor
Celery, and only the config module reads the environment."""

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_the_library_imports_neither_flask_nor_celery():
    code = (
        "import importlib, pkgutil, sys, stocksync\n"
        "for m in pkgutil.walk_packages(stocksync.__path__, 'stocksync.'):\n"
        "    importlib.import_module(m.name)\n"
        "bad = sorted(n for n in sys.modules if n.split('.')[0] in ('flask', 'celery', 'kombu'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""


def test_only_the_config_module_reads_the_environment():
    readers = [
        str(path.relative_to(ROOT))
        for folder in ("stocksync", "workers", "api", "cli")
        for path in (ROOT / folder).rglob("*.py")
        if "os.environ" in path.read_text() or "os.getenv" in path.read_text()
    ]
    assert readers == ["stocksync/config.py"]
