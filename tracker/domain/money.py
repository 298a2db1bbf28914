"""Money as reported: an amount, an ISO 4217 currency and how exact the report is."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, field_serializer, field_validator

__all__ = ["ISO_4217", "Money", "Qualifier", "parse_decimal"]

# Active ISO 4217 codes (SIX list). A closed list, because a typo such as "RMB" or
# "USDT" must be refused rather than stored as a currency nobody can convert.
ISO_4217 = frozenset(
    """AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL
    BSD BTN BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN
    ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR
    ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL
    MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN
    PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP
    STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VES VND VUV
    WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG""".split()
)


class Qualifier(StrEnum):
    EXACT = "exact"
    AT_LEAST = "at_least"
    ABOUT = "about"


def parse_decimal(value: Any) -> Decimal:
    """A finite, non-negative decimal from a string or number (floats via their repr)."""
    if isinstance(value, bool):
        raise ValueError('expected a decimal string such as "5000000000"')
    try:
        amount = Decimal(str(value).strip().replace("_", ""))
    except (InvalidOperation, ValueError):
        raise ValueError(f"not a decimal number: {value!r}") from None
    if not amount.is_finite():
        raise ValueError("must be a finite number")
    if amount < 0:
        raise ValueError("must not be negative")
    return amount


class Money(BaseModel):
    """An amount in its original currency; the record of truth for every conversion."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    value: Decimal
    currency: str
    qualifier: Qualifier = Qualifier.EXACT

    @field_validator("value", mode="before")
    @classmethod
    def _value(cls, value: Any) -> Decimal:
        return parse_decimal(value)

    @field_validator("currency", mode="before")
    @classmethod
    def _currency(cls, value: Any) -> str:
        if not isinstance(value, str):
            raise ValueError('expected a three-letter ISO 4217 code such as "CNY"')
        code = value.strip().upper()
        if code not in ISO_4217:
            raise ValueError(f"unknown currency {value!r}: expected an ISO 4217 code such as CNY")
        return code

    @field_serializer("value")
    def _dump_value(self, value: Decimal) -> str:
        return format_decimal(value)


def format_decimal(value: Decimal) -> str:
    """Plain notation without exponent or trailing zeros: 5E+9 → "5000000000"."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


__all__ += ["format_decimal"]
