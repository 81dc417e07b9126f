"""stocksync: resumable, observable, distributed sync of A-share market data into PostgreSQL.

This package is the library. It imports neither Flask nor Celery: the web API lives in ``api/``,
the Celery app and its thin tasks in ``workers/``, the command line in ``cli/``.
"""

__version__ = "0.1.0"
