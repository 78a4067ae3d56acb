"""The server's heavy work, one job at a time, with a short queue and no work for visitors who left.

Why: decoding, colorizing and encoding a photo take seconds and up to gigabytes. Before,
every waiting request held one of anyio's worker threads while it waited for a lock, the
queue had no end, and a request whose visitor had moved the slider on or closed the tab was
still computed. Here:

- one worker thread runs the jobs in order; a waiting job holds no thread, only a place in
  the executor's queue;
- at most ``max_waiting`` jobs wait behind the running one; one more is refused at once with
  :class:`Busy` (the app answers 503 with its message, and the page shows it);
- while a job waits, its request is polled: if the client has gone, the job is dropped
  before it starts (:attr:`JobQueue.dropped` counts them; a job already running finishes).

:class:`Slots` bounds the uploads that stream to disk at once in the same way.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

__all__ = ["Busy", "ClientGone", "JobQueue", "Slots"]

log = logging.getLogger(__name__)

T = TypeVar("T")
#: How often a waiting job checks whether its client is still there, seconds.
POLL_S = 0.05


class Busy(Exception):
    """The queue is full: answer 503 with :attr:`message`."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ClientGone(Exception):
    """The request's client went away while its job waited; the job was dropped before it started."""


class JobQueue:
    """Runs jobs one at a time in a worker thread; at most ``max_waiting`` wait behind the running one.

    Attributes:
        computed: jobs that started running.
        dropped: jobs dropped before they started because their client had gone.
        refused: jobs refused because the queue was full.
    """

    def __init__(self, max_waiting: int = 4) -> None:
        if max_waiting < 0:
            raise ValueError(f"max_waiting must be >= 0, got {max_waiting}")
        self.max_waiting = max_waiting
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="colorize-job")
        self._lock = threading.Lock()
        self._pending = 0  # running + waiting
        self.computed = self.dropped = self.refused = 0

    @property
    def pending(self) -> int:
        """Jobs running or waiting now."""
        with self._lock:
            return self._pending

    def _run(self, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        with self._lock:
            self.computed += 1
        return fn(*args)

    def _finished(self, _: Future) -> None:
        with self._lock:
            self._pending -= 1

    async def run(
        self, fn: Callable[..., T], *args: Any, client_gone: Callable[[], Awaitable[bool]] | None = None
    ) -> T:
        """``fn(*args)`` in the worker thread, once the jobs before it are done.

        Args:
            client_gone: polled while the job waits (``Request.is_disconnected``); True drops it.

        Raises:
            Busy: ``max_waiting`` jobs already wait; nothing was queued.
            ClientGone: the client went away before the job started; it never runs.
        """
        with self._lock:
            if self._pending > self.max_waiting:
                self.refused += 1
                waiting = self._pending - 1
                raise Busy(
                    f"the server is busy ({waiting} job(s) waiting behind the one it is working on); "
                    "try again in a moment"
                )
            self._pending += 1
        future = self._executor.submit(self._run, fn, args)
        future.add_done_callback(self._finished)
        waiter = asyncio.wrap_future(future)
        try:
            while client_gone is not None and not future.running():
                done, _ = await asyncio.wait({waiter}, timeout=POLL_S)
                if done:
                    break
                if await client_gone() and future.cancel():
                    with self._lock:
                        self.dropped += 1
                    log.debug("dropped a job: its client went away before it started")
                    raise ClientGone()
            # Started: it runs to its end (a half-done job could leave half-written files).
            return await waiter
        except asyncio.CancelledError:
            future.cancel()
            raise

    def close(self) -> None:
        """Drop the waiting jobs and wait for the running one."""
        self._executor.shutdown(wait=True, cancel_futures=True)


class Slots:
    """At most ``limit`` holders at once; :meth:`take` refuses one more with :class:`Busy`."""

    def __init__(self, limit: int, what: str) -> None:
        if limit < 1:
            raise ValueError(f"{what}: the limit must be >= 1, got {limit}")
        self.limit, self.what = limit, what
        self._held = 0
        self._lock = threading.Lock()
        self.refused = 0

    def take(self) -> None:
        with self._lock:
            if self._held >= self.limit:
                self.refused += 1
                raise Busy(f"the server is busy ({self._held} {self.what} at once already); try again in a moment")
            self._held += 1

    def give_back(self) -> None:
        with self._lock:
            self._held -= 1
