"""Money: Decimal yuan with two places (fen), one precision for the whole project, and the one place
where amounts are parsed and rounded. A float never touches money."""

import re
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation

from django.db import models
from django.utils.translation import gettext_lazy as _

from agencies.errors import DomainError

MONEY_MAX_DIGITS = 14  # up to 999,999,999,999.99 yuan: a province's fund, with room
MONEY_PLACES = 2
FEN = Decimal("0.01")
ZERO = Decimal("0.00")
_AMOUNT_TEXT = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")


class Rounding(models.TextChoices):
    HALF_UP = "half_up", _("四舍五入到分")
    DOWN = "down", _("舍去分以下")


_DECIMAL_ROUNDING = {Rounding.HALF_UP: ROUND_HALF_UP, Rounding.DOWN: ROUND_DOWN}


def money_field(verbose_name, **kwargs) -> models.DecimalField:
    kwargs.setdefault("default", ZERO)
    return models.DecimalField(verbose_name, max_digits=MONEY_MAX_DIGITS, decimal_places=MONEY_PLACES, **kwargs)


def round_fen(value: Decimal, rule: str = Rounding.HALF_UP) -> Decimal:
    """Round to the fen by the region's rule (half up unless the region says otherwise)."""
    return value.quantize(FEN, rounding=_DECIMAL_ROUNDING[Rounding(rule)])


def parse_money(raw, *, field: str = "amount", allow_zero: bool = False, allow_negative: bool = False) -> Decimal:
    """Text (or a Decimal or int) to yuan. Refuses floats, more than two places, and malformed text."""
    if isinstance(raw, float):
        raise TypeError("money must not be a float: pass the text as typed, or a Decimal")
    text = str(raw if raw is not None else "").strip().replace(",", "").replace("，", "")
    if text.startswith("¥") or text.startswith("￥"):
        text = text[1:].strip()
    if text.endswith("元"):
        text = text[:-1].strip()
    # Plain digits with an optional sign and point only: Decimal alone would take "1e3" or "1_000".
    if not _AMOUNT_TEXT.fullmatch(text):
        raise DomainError(
            f"金额“{raw}”格式不正确，请填写数字，例如 300 或 300.00。", code="invalid_amount", field=field
        )
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise DomainError(
            f"金额“{raw}”格式不正确，请填写数字，例如 300 或 300.00。", code="invalid_amount", field=field
        ) from None
    if not value.is_finite():
        raise DomainError("金额格式不正确。", code="invalid_amount", field=field)
    if value != value.quantize(FEN, rounding=ROUND_DOWN):
        raise DomainError("金额最多保留两位小数（到分）。", code="invalid_amount", field=field)
    if value < 0 and not allow_negative:
        raise DomainError("金额不能为负数。", code="negative_amount", field=field)
    if value == 0 and not allow_zero:
        raise DomainError("金额必须大于零。", code="zero_amount", field=field)
    if abs(value) >= Decimal(10) ** (MONEY_MAX_DIGITS - MONEY_PLACES):
        raise DomainError("金额过大，请核对。", code="invalid_amount", field=field)
    return value.quantize(FEN)


def money_total(value) -> Decimal:
    """A database SUM as yuan with two places: None (no rows) is 0.00, and SQLite's sums, which come back
    without their places, get them."""
    return ZERO if value is None else Decimal(value).quantize(FEN)
