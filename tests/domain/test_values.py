"""Value types: Money, FuzzyDate and names, with property tests where text is parsed."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from tracker.domain.dates import FuzzyDate, Precision
from tracker.domain.money import ISO_4217, Money, format_decimal
from tracker.domain.names import is_slug, normalise_name, slugify


@given(
    st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)),
    st.sampled_from(list(Precision)),
)
def test_a_fuzzy_date_round_trips_through_its_text(day: date, precision: Precision) -> None:
    fuzzy = FuzzyDate.of(day, precision.value)
    assert FuzzyDate.parse(fuzzy.text()) == fuzzy
    assert FuzzyDate.coerce(fuzzy.to_json()) == fuzzy
    assert fuzzy.start <= day <= fuzzy.end
    assert fuzzy.start.isoformat() == fuzzy.to_json()["date"]


@given(st.text(max_size=12))
def test_parsing_any_text_gives_a_date_or_a_clear_error(text: str) -> None:
    try:
        FuzzyDate.parse(text)
    except ValueError as exc:
        assert "expected YYYY" in str(exc) or "impossible date" in str(exc)


@pytest.mark.parametrize(
    ("text", "start", "end", "precision"),
    [
        ("2026-01-26", date(2026, 1, 26), date(2026, 1, 26), "day"),
        ("2024-03", date(2024, 3, 1), date(2024, 3, 31), "month"),
        ("2024-02", date(2024, 2, 1), date(2024, 2, 29), "month"),
        ("2011", date(2011, 1, 1), date(2011, 12, 31), "year"),
    ],
)
def test_a_period_ends_on_its_last_day(text: str, start: date, end: date, precision: str) -> None:
    fuzzy = FuzzyDate.parse(text)
    assert (fuzzy.start, fuzzy.end, fuzzy.precision.value) == (start, end, precision)


@pytest.mark.parametrize("text", ["2026-02-30", "2025-13", "2026-00-10", "26-01-2026", "Jan 2026"])
def test_impossible_dates_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        FuzzyDate.parse(text)


@given(
    st.decimals(min_value=0, max_value=Decimal("1e15"), allow_nan=False, places=4),
    st.sampled_from(sorted(ISO_4217)),
)
def test_money_keeps_its_value_exactly_as_a_decimal_string(value: Decimal, currency: str) -> None:
    money = Money.model_validate({"value": str(value), "currency": currency.lower()})
    dumped = money.model_dump(mode="json")
    assert Decimal(dumped["value"]) == value
    assert "E" not in dumped["value"]
    assert dumped["currency"] == currency and dumped["qualifier"] == "exact"


@given(st.text(alphabet=st.characters(whitelist_categories=("Lu",)), min_size=3, max_size=3))
def test_only_iso_4217_codes_are_currencies(code: str) -> None:
    if code in ISO_4217:
        return
    with pytest.raises(ValidationError, match="unknown currency"):
        Money.model_validate({"value": "1", "currency": code})


@pytest.mark.parametrize("value", ["-5", "NaN", "Infinity", "five", True])
def test_money_refuses_values_that_are_not_amounts(value: object) -> None:
    with pytest.raises(ValidationError):
        Money.model_validate({"value": value, "currency": "CNY"})


def test_format_decimal_never_uses_an_exponent() -> None:
    assert format_decimal(Decimal("5E+9")) == "5000000000"
    assert format_decimal(Decimal("717.500")) == "717.5"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("StepFun", "stepfun"),
        ("Step Star", "step-star"),
        ("ＳＴＥＰ ＳＴＡＲ", "Step Star"),
        ("Zhìpǔ AI", "Zhipu AI"),
        ("Megvii Technology Ltd.", "Megvii Technology"),
        (
            "Shanghai Jieyue Xingchen Intelligent Technology Co., Ltd.",
            "Shanghai Jieyue Xingchen Intelligent Technology",
        ),
    ],
)
def test_names_that_differ_only_in_form_normalise_alike(a: str, b: str) -> None:
    assert normalise_name(a) == normalise_name(b)


def test_chinese_names_are_kept_as_written() -> None:
    assert normalise_name("阶跃星辰") == "阶跃星辰"
    assert normalise_name("阶跃星辰") != normalise_name("月之暗面")


@given(st.text(max_size=40))
def test_normalising_is_idempotent(name: str) -> None:
    once = normalise_name(name)
    assert normalise_name(once) == once


@given(st.text(min_size=1, max_size=40))
def test_slugify_always_gives_a_valid_slug(name: str) -> None:
    assert is_slug(slugify(name))


def test_slugs_keep_version_dots_only() -> None:
    assert slugify("Step-3.5-Flash") == "step-3.5-flash"
    assert slugify("Moonshot AI") == "moonshot-ai"
    assert slugify("Foo Co., Ltd.") == "foo-co-ltd"
