"""Chunks of bulk work run on several database connections at once (PostgreSQL, outside any transaction)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

from django.db import connection, connections

T = TypeVar("T")
R = TypeVar("R")


def workers_allowed(workers: int) -> int:
    """One worker inside a transaction (other connections could not see its rows) or on SQLite (one writer)."""
    if workers > 1 and (connection.vendor != "postgresql" or connection.in_atomic_block):
        return 1
    return max(1, workers)


def run_parallel(items: list[T], work: Callable[[T], R], workers: int) -> Iterator[tuple[T, R]]:
    """Yield (item, result) as each item's work finishes; with workers > 1, on that many threads (and
    connections) at once. A failure stops the others after the item in hand and is raised here; so is a
    stop from the caller (closing the generator, e.g. a progress callback that raises)."""
    if workers <= 1:
        for item in items:
            yield item, work(item)
        return

    todo: queue.SimpleQueue[T] = queue.SimpleQueue()
    for item in items:
        todo.put(item)
    finished: queue.SimpleQueue = queue.SimpleQueue()
    stop = threading.Event()

    def run() -> None:
        try:
            while not stop.is_set():
                try:
                    item = todo.get_nowait()
                except queue.Empty:
                    return
                try:
                    result = work(item)
                except BaseException as error:  # handed to the caller's thread
                    finished.put(error)
                    return
                finished.put((item, result))
        finally:
            connections.close_all()  # this thread's own connection

    threads = [threading.Thread(target=run, daemon=True) for _ in range(min(workers, len(items)))]
    for thread in threads:
        thread.start()
    try:
        for _ in items:
            outcome = finished.get()
            if isinstance(outcome, BaseException):
                raise outcome
            yield outcome
    finally:
        stop.set()
        for thread in threads:
            thread.join()
