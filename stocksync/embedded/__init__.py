"""PostgreSQL and Redis for stocksync: configured URLs, or embedded servers under the data dir.

Use :func:`resolve_service_urls` to get the URLs (starting the embedded servers if needed),
:func:`stop_embedded` to stop them and :func:`embedded_status` to report on them.
"""

from __future__ import annotations

from stocksync.embedded.resolve import (
    ServiceUrls,
    embedded_status,
    resolve_service_urls,
    stop_embedded,
)

__all__ = ["ServiceUrls", "embedded_status", "resolve_service_urls", "stop_embedded"]
