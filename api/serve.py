"""``python -m api.serve``: serve the API with Werkzeug's threaded server (local use)."""

from __future__ import annotations

import argparse

from werkzeug.serving import run_simple

from api.app import create_app


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the stocksync API")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    run_simple(args.host, args.port, create_app(), threaded=True, use_reloader=False)


if __name__ == "__main__":
    main()
