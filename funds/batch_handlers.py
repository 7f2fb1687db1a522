"""The registry through which the apps above ``funds`` receive settled bank lines (no upward imports).

``contributions`` registers the DEDUCT handler and ``benefits`` the PAYOUT handler, each in its
``AppConfig.ready()``. The settlement calls ``settle_chunk`` once per chunk of result lines, inside the
chunk's transaction, and ``paid_by_fund`` once at the end to book the fund account movement.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from funds.models import BankBatch, ResultReceipt


@dataclass(frozen=True)
class BatchHandler:
    kind: str
    # Post the result lines with lo < seq <= hi: success lines exactly once (the chunk's transaction and the
    # unique keys see to it), failures as the kind needs. Returns how many success lines could not be posted
    # (those carry a ``follow_up`` note: the money goes back).
    settle_chunk: Callable[[BankBatch, ResultReceipt, int, int], int]
    # The money the settled batch moved, by fund (``funds.models.Fund``), as positive amounts.
    paid_by_fund: Callable[[BankBatch, ResultReceipt], dict[str, Decimal]]


_HANDLERS: dict[str, BatchHandler] = {}


def register(handler: BatchHandler) -> None:
    existing = _HANDLERS.get(handler.kind)
    if existing is not None and existing != handler:
        raise RuntimeError(f"a handler for {handler.kind} batches is already registered")
    _HANDLERS[handler.kind] = handler


def handler_for(kind: str) -> BatchHandler:
    try:
        return _HANDLERS[kind]
    except KeyError:
        raise RuntimeError(f"no handler registered for {kind} batches: is its app installed?") from None
