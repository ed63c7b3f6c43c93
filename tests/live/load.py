"""A small, bounded request stream through the Gateway, for tests under change (issue #23).

:class:`LoadStream` sends GETs to the Gateway's entry point on loopback, at a steady rate, in
a background thread, over one keep-alive connection per worker (a new one after an error),
until ``max_requests`` have been sent, ``max_seconds`` have passed or :meth:`stop` is
called, whichever comes first. It records, per request, when it was sent, what it asked for,
the status, who answered (a stand-in's identity, tests/live/standins.py), the latency and
any error (a refused or reset connection, a timeout). Only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import http.client
import itertools
import json
import math
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

LOOPBACK = "127.0.0.1"


def binomial_bound(requests: int, share: float) -> float:
    """How far the count of ``requests`` one side of a split answered may be from
    ``requests * share``: four standard deviations of the binomial (n, p), plus one for
    rounding. A gateway choosing each request's backend at random independently passes with
    probability above 0.9999 per side; Traefik's weighted round robin is exact up to where a
    count starts in its cycle (data-plane.md), so a failure is a wrong weight, not chance."""
    return 4.0 * math.sqrt(requests * share * (1 - share)) + 1


@dataclass(frozen=True)
class Sent:
    """One request of the stream and what came of it."""

    at_s: float  # when it was sent, from the stream's start
    host: str | None
    path: str
    status: int | None  # None: no answer (error says why)
    deployment: str | None  # the stand-in that answered, if one did
    latency_s: float
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.status is None or self.status >= 500


@dataclass
class LoadStream:
    """A steady stream of requests (module docstring). Use as a context manager, or
    :meth:`start` and :meth:`stop`; :attr:`sent` holds the records."""

    port: int
    targets: Sequence[tuple[str | None, str]]  # (Host, path) taken in turn
    rate_per_s: float = 50.0
    max_requests: int = 5_000
    max_seconds: float = 120.0
    timeout_s: float = 30.0
    workers: int = 2
    sent: list[Sent] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if not self.targets:
            raise ValueError("a load stream needs at least one target")
        if self.max_requests <= 0 or self.max_seconds <= 0 or self.rate_per_s <= 0:
            raise ValueError("a load stream is bounded: positive max_requests, max_seconds, rate")

    def __enter__(self) -> LoadStream:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._started = time.monotonic()
        self._tickets = itertools.count()
        for index in range(self.workers):
            thread = threading.Thread(target=self._work, name=f"load-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def clock(self) -> float:
        """Seconds since the stream started: the time of :attr:`Sent.at_s`."""
        return time.monotonic() - self._started

    def stop(self) -> None:
        """Stop sending and wait for the requests in flight (at most ``timeout_s``)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(self.timeout_s + 5)

    def wait(self) -> None:
        """Until the stream has ended by its own bounds."""
        for thread in self._threads:
            thread.join(self.max_seconds + self.timeout_s + 5)

    def _connect(self) -> http.client.HTTPConnection:
        connection = http.client.HTTPConnection(LOOPBACK, self.port, timeout=self.timeout_s)
        connection.connect()
        assert connection.sock is not None
        connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection

    def _work(self) -> None:
        connection: http.client.HTTPConnection | None = None
        interval = 1.0 / self.rate_per_s
        try:
            while not self._stop.is_set():
                ticket = next(self._tickets)
                due = self._started + ticket * interval
                if ticket >= self.max_requests or due - self._started > self.max_seconds:
                    return
                delay = due - time.monotonic()
                if delay > 0 and self._stop.wait(delay):
                    return
                host, path = self.targets[ticket % len(self.targets)]
                sent_at = time.monotonic()
                try:
                    if connection is None:
                        connection = self._connect()
                    connection.request("GET", path, headers={"Host": host or "gateway.test"})
                    response = connection.getresponse()
                    raw = response.read()
                    deployment = None
                    if response.getheader("x-iac-standin") == "backend":
                        deployment = json.loads(raw).get("deployment")
                    record = Sent(
                        sent_at - self._started, host, path, response.status, deployment,
                        time.monotonic() - sent_at,
                    )  # fmt: skip
                except (OSError, http.client.HTTPException) as error:
                    if connection is not None:
                        connection.close()
                    connection = None
                    record = Sent(
                        sent_at - self._started, host, path, None, None,
                        time.monotonic() - sent_at, f"{type(error).__name__}: {error}",
                    )  # fmt: skip
                with self._lock:
                    self.sent.append(record)
        finally:
            if connection is not None:
                connection.close()
