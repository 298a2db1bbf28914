"""Slow tests here (the soak, the large feed, real lease waits) run with `make
reliability` (`pytest -m slow`); a run that selects no marker skips them, so `make test`
stays short on a two-core machine."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("markexpr"):
        return  # an explicit -m decides
    skip = pytest.mark.skip(reason="slow: run by `make reliability` (pytest -m slow)")
    for item in items:
        if "slow" in item.keywords and HERE in item.path.parents:
            item.add_marker(skip)
