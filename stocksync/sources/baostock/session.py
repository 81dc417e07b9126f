"""The baostock client's one connection per process, and the guard around every library call.

The client keeps ONE socket per process in ``baostock.common.context.default_socket`` and no
lock: two threads sharing it read each other's replies. It has no timeouts and two ways to
hang: a server that stops answering blocks ``recv`` forever, and a server that closes the
connection makes ``socketutil.send_msg`` loop on ``recv() == b""`` at 100 % CPU. So:

- :data:`SESSION` holds this process's one login; every call holds ``SESSION.lock``;
- the login runs with ``socket.setdefaulttimeout(timeout)``, which the client's new socket
  inherits: a stalled reply becomes error 10002007 after the timeout;
- every library call runs under a :class:`Watchdog`: the process's one watchdog thread watches
  the library's socket for hang-ups (it never reads from it, and data arriving does not wake
  it): when the server has closed its end and nothing is left to read, or when a deadline
  passes, it shuts the socket down and closes it, so the client's next ``recv`` raises and
  ``send_msg`` gives up. Nothing in the library is patched.
"""

from __future__ import annotations

import array
import contextlib
import fcntl
import logging
import os
import select
import socket
import termios
import threading
import time
from typing import Any

log = logging.getLogger(__name__)

PAGE_ROWS = 2000  # baostock.common.contants.BAOSTOCK_PER_PAGE_COUNT
OK = "0"


class Library:
    """The baostock modules, imported on first use, and the server they were shipped with."""

    def __init__(self) -> None:
        import baostock  # type: ignore[import-untyped]
        import baostock.common.contants as cons  # type: ignore[import-untyped]
        import baostock.common.context as context  # type: ignore[import-untyped]

        self.bs: Any = baostock
        self.cons: Any = cons
        self.context: Any = context
        self.shipped = (cons.BAOSTOCK_SERVER_IP, cons.BAOSTOCK_SERVER_PORT)
        self.shipped_vip = cons.BAOSTOCK_VIP_SERVER_IP

    def point_at(self, addr: tuple[str, int] | None) -> None:
        """Set the module constants ``SocketUtil.connect`` reads when ``login()`` runs."""
        host, port = addr or self.shipped
        self.cons.BAOSTOCK_SERVER_IP, self.cons.BAOSTOCK_SERVER_PORT = host, port
        self.cons.BAOSTOCK_VIP_SERVER_IP = host if addr else self.shipped_vip

    def socket(self) -> socket.socket | None:
        sock = getattr(self.context, "default_socket", None)
        return sock if isinstance(sock, socket.socket) else None

    def forget_socket(self) -> None:
        sock = self.socket()
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()
        self.context.default_socket = None


_library: Library | None = None


def library() -> Library:
    """The imported client (``ImportError`` when baostock is not installed)."""
    global _library
    if _library is None:
        _library = Library()
    return _library


class Session:
    """This process's one baostock login. Hold ``lock`` for anything that touches it."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.addr: tuple[str, int] | None = None
        self.sock: socket.socket | None = None  # the socket our login created
        self.pid = os.getpid()

    def alive_for(self, addr: tuple[str, int] | None) -> bool:
        """Logged in to ``addr`` by this process, on a socket nobody has replaced or closed."""
        return (
            self.sock is not None
            and self.pid == os.getpid()
            and self.addr == addr
            and _library is not None
            and _library.socket() is self.sock
            and self.sock.fileno() >= 0
        )

    def logged_in(self, addr: tuple[str, int] | None, sock: socket.socket) -> None:
        self.sock, self.addr, self.pid = sock, addr, os.getpid()

    def drop(self) -> None:
        """Forget the login and close its socket: the next call logs in afresh."""
        if _library is not None:
            _library.forget_socket()
        self.sock, self.addr, self.pid = None, None, os.getpid()

    def after_fork(self) -> None:
        """A forked child must not share the parent's connection (closing the child's copy of
        the descriptor leaves the parent's connection open)."""
        self.lock = threading.Lock()
        self.drop()


SESSION = Session()
os.register_at_fork(after_in_child=SESSION.after_fork)

_RDHUP = getattr(select, "POLLRDHUP", 0)  # Linux; elsewhere only the deadline applies


def _unread_bytes(fd: int) -> int:
    buf = array.array("i", [0])
    try:
        fcntl.ioctl(fd, termios.FIONREAD, buf, True)
    except OSError:
        return 0
    return buf[0]


def peer_closed(sock: socket.socket) -> bool:
    """The server closed the connection and every byte it sent has been read: the client's
    next ``recv`` returns b"" and ``send_msg`` would spin on it forever."""
    fd = sock.fileno()
    if fd < 0 or not _RDHUP:
        return False
    poller = select.poll()
    poller.register(fd, select.POLLIN | _RDHUP)
    events = poller.poll(0)
    if not events:
        return False
    mask = events[0][1]
    if mask & select.POLLERR:
        return True
    return bool(mask & (_RDHUP | select.POLLHUP)) and _unread_bytes(fd) == 0


class Watchdog:
    """Watches the library's socket while a call runs (see the module docstring).

    One thread per process does the watching (:class:`_Watcher`), started on first use: between
    calls it sleeps on a condition, and during a call it blocks in ``poll`` on the socket's
    hang-up events alone, so incoming data wakes nothing — watching costs next to no CPU while
    data flows, and no thread is started or joined per call. Calls are serialised by
    ``SESSION.lock``, so one call is watched at a time.
    """

    POLL_S = 0.005  # how often a socket whose server hung up is checked for unread bytes
    IDLE_CHECK_S = 0.05  # how often a call that has no socket yet (a login) is looked at

    def __init__(self, lib: Library, deadline_s: float) -> None:
        self.lib = lib
        self.deadline = 0.0
        self.deadline_s = deadline_s
        self.done = False
        self.expired = False  # tripped, or past its deadline: the watcher is done with it
        self.tripped = ""  # why the watchdog closed the socket, if it did

    def __enter__(self) -> Watchdog:
        self.deadline = time.monotonic() + self.deadline_s
        _watcher().watch(self)
        return self

    def __exit__(self, *exc: object) -> None:
        _watcher().unwatch(self)

    def trip(self, sock: socket.socket, why: str) -> None:
        log.warning("baostock: %s; closing the connection", why)
        self.tripped = why
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)  # wakes a recv blocked on the socket
        with contextlib.suppress(OSError):
            sock.close()  # the client's next recv raises instead of returning b""


class _Watcher:
    """The process's one watchdog thread (see :class:`Watchdog`). It looks at the call being
    watched at least every :attr:`TICK_S` and otherwise blocks in ``poll`` on its socket's
    hang-up events; a call starting or ending costs a lock and, after an idle spell, a notify."""

    TICK_S = 0.1

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._current: Watchdog | None = None
        self._thread = threading.Thread(target=self._run, name="baostock-watchdog", daemon=True)
        self._thread.start()

    def watch(self, dog: Watchdog) -> None:
        with self._cond:
            while self._current is not None:  # never while SESSION.lock serialises calls
                self._cond.wait()
            self._current = dog
            self._cond.notify_all()

    def unwatch(self, dog: Watchdog) -> None:
        with self._cond:
            dog.done = True
            if self._current is dog:
                self._current = None
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._current is None or self._current.expired:
                    self._cond.wait()
                dog = self._current
            self._look(dog)

    def _look(self, dog: Watchdog) -> None:
        """One look at ``dog``'s call: trip it past its deadline or on a hang-up, else wait for
        a hang-up for at most one tick."""
        sock = dog.lib.socket()
        fd = sock.fileno() if sock is not None else -1
        left = dog.deadline - time.monotonic()
        if left <= 0:
            if sock is not None and fd >= 0 and not dog.done:
                dog.trip(sock, f"no complete reply within {dog.deadline_s:g} s")
            dog.expired = True  # nothing more to watch until the call returns
            return
        wait_s = min(left, self.TICK_S)
        if sock is None or fd < 0 or not _RDHUP:
            time.sleep(min(wait_s, Watchdog.IDLE_CHECK_S))
            return
        poller = select.poll()
        poller.register(fd, _RDHUP)  # hang-ups only: data arriving wakes nothing
        if poller.poll(max(1, int(wait_s * 1000))) and not dog.done:
            if peer_closed(sock):
                dog.trip(sock, "the server closed the connection")
                dog.expired = True
            else:
                time.sleep(Watchdog.POLL_S)  # hung up with bytes left to read: soon again


_WATCHER: _Watcher | None = None
_WATCHER_LOCK = threading.Lock()


def _watcher() -> _Watcher:
    global _WATCHER
    with _WATCHER_LOCK:
        if _WATCHER is None:
            _WATCHER = _Watcher()
        return _WATCHER


def _forget_watcher_after_fork() -> None:
    """A forked child has no watchdog thread (threads do not survive a fork): start its own."""
    global _WATCHER, _WATCHER_LOCK
    _WATCHER, _WATCHER_LOCK = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_watcher_after_fork)


class BrokenOff(Exception):
    """``ResultData.next()`` stopped because fetching the next page failed."""


def drain(rs: Any) -> list[list[str]]:
    """Every row of every page, read with ``next()``/``get_row_data()`` (``get_data()`` uses
    ``DataFrame.append``, gone in pandas 2). ``next()`` swallows a failed page fetch: it keeps
    the last full page and returns False; that raises :class:`BrokenOff` here."""
    rows: list[list[str]] = []
    while rs.error_code == OK and rs.next():
        rows.append(rs.get_row_data())
    if rs.error_code == OK and len(rs.data) == PAGE_ROWS:
        raise BrokenOff(f"the reply broke off after {len(rows)} rows")
    return rows
