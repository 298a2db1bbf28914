"""USD values for reported amounts, from the ECB reference rates `currencyconverter`
ships offline.

The rate is the last one the ECB published on or before the day asked for: no
interpolation, so every figure can be checked against a published table. A day past
the shipped data uses its last rate and says so in `rate_note`.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Any

from currency_converter import CurrencyConverter, RateNotFoundError

from tracker.domain.money import format_decimal

__all__ = ["usd_fields"]

# ECB publishes on TARGET business days; a fortnight covers every holiday run.
_LOOKBACK_DAYS = 14


@lru_cache(maxsize=1)
def _converter() -> CurrencyConverter:
    return CurrencyConverter(fallback_on_missing_rate=False, fallback_on_wrong_date=False)


@lru_cache(maxsize=4096)
def _usd_rate(currency: str, day: date) -> tuple[Decimal, date, str | None] | None:
    """USD per one unit of `currency`, the day of that rate, and a note when clamped."""
    if currency == "USD":
        return Decimal(1), day, None
    converter = _converter()
    bounds = converter.bounds.get(currency)
    if bounds is None or "USD" not in converter.bounds:
        return None
    last = min(bounds.last_date, converter.bounds["USD"].last_date)
    note = None
    if day > last:
        note = f"{day.isoformat()} is past the shipped ECB data; last rate used"
        day = last
    for back in range(_LOOKBACK_DAYS + 1):
        candidate = day - timedelta(days=back)
        try:
            rate = converter.convert(1, currency, "USD", date=candidate)
        except RateNotFoundError:
            continue
        return Decimal(str(rate)), candidate, note
    return None


def usd_fields(money: dict[str, Any], on: date) -> dict[str, Any]:
    """`money` plus value_usd, usd_rate and rate_date (or a rate_note saying why not)."""
    found = _usd_rate(str(money["currency"]), on)
    if found is None:
        return {**money, "value_usd": None, "rate_note": "no ECB rate for this currency"}
    rate, rate_day, note = found
    value_usd = (Decimal(str(money["value"])) * rate).quantize(Decimal(1), ROUND_HALF_UP)
    enriched = {
        **money,
        "value_usd": format_decimal(value_usd),
        "usd_rate": format_decimal(rate.quantize(Decimal("0.000001"))),
        "rate_date": rate_day.isoformat(),
    }
    if note:
        enriched["rate_note"] = note
    return enriched
