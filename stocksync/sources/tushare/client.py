"""The one gate every tushare call passes: shared quota, the unmodified client, classification.

Facts this relies on (SOURCES.md; ``tushare/pro/client.py``): one ``POST {url}/{api_name}`` per
call with the token in the JSON body; a reply with ``code != 0`` becomes a bare
``Exception(msg)`` whose text is the only signal; an HTTP 4xx/5xx becomes an *empty table
without columns* and no error, while a genuine empty reply keeps its columns; the endpoint is
the private class attribute ``DataApi._DataApi__http_url``.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
import time
from collections.abc import Sequence
from typing import Any

from stocksync.coordination.ratelimit import InProcessQuota
from stocksync.sources.base import (
    CallQuota,
    FatalSourceError,
    RateLimitedError,
    SourceError,
    TransientSourceError,
    take_quota,
)

log = logging.getLogger(__name__)

SOURCE = "tushare"
PAGE_ROWS = 6000  # documented per-call maximum of daily, daily_basic; a full page is followed
PER_MINUTE_WAIT_S = 60.0  # after a per-minute limit a full minute must pass (tushare #1868)
BEIJING = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")
_PER_MINUTE = re.compile(r"每分钟最多访问该接口\s*(\d+)\s*次")
_FATAL_TEXTS = ("token不对", "没有访问该接口的权限", "请指定正确的接口名")


class Secret:
    """A string that never shows itself in ``repr`` or ``str``."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "'***'"

    __str__ = __repr__


def bucket(api_name: str) -> str:
    """The shared rate-limit bucket of one tushare endpoint (limits are per endpoint)."""
    return f"{SOURCE}.{api_name}"


class Library:
    """tushare, requests and ``DataApi``, imported on first use (importing tushare takes ~1 s)."""

    _lock = threading.Lock()
    _loaded: tuple[Any, Any, Any, str] | None = None

    @classmethod
    def load(cls) -> tuple[Any, Any, Any, str]:
        """``(tushare, requests, DataApi, the library's own endpoint)``; ImportError if absent."""
        with cls._lock:
            if cls._loaded is None:
                import requests
                import tushare  # type: ignore[import-untyped]
                from tushare.pro.client import DataApi  # type: ignore[import-untyped]

                cls._loaded = (tushare, requests, DataApi, DataApi._DataApi__http_url)
            return cls._loaded


def seconds_to_beijing_midnight(now: float) -> float:
    """Seconds from ``now`` (a Unix time) to one minute past the next midnight in Beijing."""
    moment = dt.datetime.fromtimestamp(now, BEIJING)
    midnight = dt.datetime.combine(moment.date() + dt.timedelta(days=1), dt.time(), BEIJING)
    return (midnight - moment).total_seconds() + 60.0


class TushareClient:
    """Calls of the tushare pro API through ``tushare.pro_api(token)``, each one gated by the
    quota and classified exactly once. Holds the token; never shows it."""

    def __init__(
        self,
        token: str | None,
        *,
        url: str | None,
        timeout_s: float,
        calls_per_minute: int,
        quota: CallQuota | None,
        page_rows: int = PAGE_ROWS,
        limit_window_s: float = PER_MINUTE_WAIT_S,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        if page_rows <= 0:
            raise ValueError(f"page_rows must be > 0, got {page_rows}")
        self.token = Secret(token) if token else None
        self.url = url
        self.timeout_s = timeout_s
        self.page_rows = page_rows
        # how long an endpoint rests after tushare said its per-minute window is full
        self.limit_window_s = limit_window_s
        self._configured_limit = max(0, calls_per_minute)
        self._learned: dict[str, int] = {}  # tushare limits each endpoint on its own
        self._quota: CallQuota = quota if quota is not None else InProcessQuota()
        self._lock = threading.Lock()
        self._apis: dict[float, Any] = {}

    @property
    def learned_limit(self) -> int | None:
        """The lowest per-endpoint limit tushare has reported (None: none yet)."""
        return min(self._learned.values()) if self._learned else None

    @property
    def limit(self) -> int | None:
        """The configured limit, tightened to the lowest learned one; None when neither."""
        limits = [n for n in (self._configured_limit, self.learned_limit) if n]
        return min(limits) if limits else None

    def limit_for(self, api_name: str) -> int | None:
        """The limit of one endpoint: the configured one, tightened to what tushare said."""
        limits = [n for n in (self._configured_limit, self._learned.get(api_name)) if n]
        return min(limits) if limits else None

    def _api(self, timeout_s: float) -> Any:
        if self.token is None:
            raise FatalSourceError(SOURCE, "TUSHARE_TOKEN is not set")
        try:
            tushare, _, data_api, library_url = Library.load()
        except ImportError as exc:
            raise FatalSourceError(
                SOURCE, f"the tushare library cannot be imported: {exc}"
            ) from None
        with self._lock:
            api = self._apis.get(timeout_s)
            if api is None:
                if self.url:  # the documented redirect: every DataApi of this process ...
                    data_api._DataApi__http_url = self.url
                api = tushare.pro_api(self.token.reveal(), timeout=timeout_s)
                # ... and this instance pinned, so a source with another URL cannot move it
                api._DataApi__http_url = self.url or library_url
                self._apis[timeout_s] = api
            return api

    def query(
        self,
        api_name: str,
        fields: Sequence[str],
        *,
        timeout_s: float | None = None,
        optional: Sequence[str] = (),
        **params: Any,
    ) -> Any:
        """One call of ``api_name``: a DataFrame holding ``fields``, or a SourceError. Of the
        ``optional`` fields (ones tushare does not document) a reply may lack any: they come
        back as nulls."""
        take_quota(self._quota, SOURCE, bucket(api_name), self.limit_for(api_name) or 0, api_name)
        timeout = timeout_s or self.timeout_s
        api = self._api(timeout)
        failure: SourceError | None = None
        try:
            frame = api.query(api_name, fields=",".join(fields), **params)
        except Exception as exc:
            failure = self._classify(api_name, exc, timeout)
        if failure is not None:
            # raised outside the handler, so the client's exception (whose text may echo what
            # the server sent) is neither the cause nor the context of ours
            raise failure
        if len(frame.columns) == 0:
            raise TransientSourceError(
                SOURCE,
                f"{api_name}: HTTP error reply (the client turns HTTP 4xx/5xx into an empty "
                "table without columns)",
            )
        missing = [f for f in fields if f not in frame.columns and f not in optional]
        if missing:
            raise TransientSourceError(
                SOURCE, f"{api_name}: malformed reply, no column(s) {', '.join(missing)}"
            )
        return frame.reindex(columns=list(fields)) if optional else frame

    def fetch(
        self,
        api_name: str,
        fields: Sequence[str],
        *,
        limit: int | None = None,
        optional: Sequence[str] = (),
        **params: Any,
    ) -> list[tuple[Any, ...]]:
        """Every row of a query as tuples of ``fields``, following full pages with ``offset``
        (``optional`` fields as :meth:`query` has them).

        With ``limit`` (the endpoint's own per-call cap) every call names ``limit`` and
        ``offset``; without it a page of :attr:`page_rows` rows counts as full."""
        page_rows = limit or self.page_rows
        rows: list[tuple[Any, ...]] = []
        while True:
            extra: dict[str, int] = {"offset": len(rows)} if rows else {}
            if limit:
                extra = {"limit": limit, "offset": len(rows)}
            frame = self.query(api_name, fields, optional=optional, **params, **extra)
            page = list(frame[list(fields)].itertuples(index=False, name=None))
            rows.extend(page)
            if len(page) < page_rows:
                return rows

    def _classify(self, api_name: str, exc: Exception, timeout_s: float) -> SourceError:
        """The one place a client failure becomes a SourceError."""
        requests = Library.load()[1]
        kind = type(exc).__name__
        if isinstance(exc, requests.exceptions.Timeout):
            return TransientSourceError(SOURCE, f"{api_name} timed out after {timeout_s} s")
        if isinstance(exc, requests.exceptions.RequestException):
            return TransientSourceError(SOURCE, f"{api_name}: connection failed ({kind})")
        if isinstance(exc, (ValueError, KeyError, TypeError, IndexError, AttributeError)):
            return TransientSourceError(SOURCE, f"{api_name}: malformed reply ({kind})")
        if type(exc) is not Exception:  # not the client's Exception(msg): something unexpected
            return TransientSourceError(SOURCE, f"{api_name}: unexpected {kind}")
        # the client's bare Exception(msg) for a reply with code != 0: the text is the signal
        text = str(exc)
        if self.token is not None:
            text = text.replace(self.token.reveal(), "***")
        text = text[:300]
        if match := _PER_MINUTE.search(text):
            limit = int(match.group(1))
            self._learn(api_name, limit)
            self._rest(api_name)
            return RateLimitedError(
                SOURCE,
                f"{api_name}: at most {limit} calls per minute",
                wait_s=self.limit_window_s,
                limit_per_minute=limit,  # so the shared bucket tightens too
                bucket=bucket(api_name),
            )
        if "每分钟最多访问" in text:
            self._rest(api_name)
            return RateLimitedError(
                SOURCE, f"{api_name}: {text}", wait_s=self.limit_window_s, bucket=bucket(api_name)
            )
        if "每小时最多访问" in text:
            return RateLimitedError(SOURCE, f"{api_name}: {text}", wait_s=3600.0)
        if "每天最多访问" in text:
            return RateLimitedError(
                SOURCE,
                f"{api_name}: daily quota spent, resuming after midnight Beijing time",
                wait_s=seconds_to_beijing_midnight(time.time()),
            )
        if any(fatal in text for fatal in _FATAL_TEXTS):
            return FatalSourceError(SOURCE, f"{api_name}: {text}")
        return TransientSourceError(SOURCE, f"{api_name}: {text}")

    def _rest(self, api_name: str) -> None:
        """tushare said this endpoint's window is full: every worker leaves it alone until a
        whole window has passed (calling on only prolongs the refusal, tushare #1868)."""
        self._quota.pause(bucket(api_name), self.limit_window_s)
        log.warning("tushare %s: per-minute limit reached; pausing it for %.0f s",
                    api_name, self.limit_window_s)  # fmt: skip

    def _learn(self, api_name: str, limit: int) -> None:
        with self._lock:
            known = self._learned.get(api_name)
            if limit > 0 and (known is None or limit < known):
                self._learned[api_name] = limit
                log.warning("tushare allows %d %s calls per minute; lowering its quota",
                            limit, api_name)  # fmt: skip
