"""`make bench`: run every benchmark and print one table (figure, value, baseline, ratio,
goal). Pass module names (e.g. `store`) to run only some."""

from __future__ import annotations

import importlib
import platform
import sys
import tempfile
from pathlib import Path

from tests.benchmarks.harness import Row

MODULES = ["store", "projections", "feeds", "webhooks"]


def table(rows: list[Row]) -> str:
    lines = [
        "| figure | value | baseline (same run) | ratio | goal | met |",
        "| --- | ---: | ---: | ---: | --- | --- |",
    ]
    for row in rows:
        base = f"{row.baseline:,.1f} ({row.baseline_name})" if row.baseline is not None else "—"
        ratio = f"{row.ratio:.2f}" if row.ratio is not None else "—"
        met = {True: "yes", False: "no", None: "—"}[row.met]
        lines.append(
            f"| {row.figure} | {row.value:,.1f} {row.unit} | {base} | {ratio} | {row.goal} | {met} |"
        )
    return "\n".join(lines)


def main(selected: list[str]) -> None:
    rows: list[Row] = []
    with tempfile.TemporaryDirectory() as scratch:
        for name in selected or MODULES:
            try:
                module = importlib.import_module(f"tests.benchmarks.bench_{name}")
            except ModuleNotFoundError:
                continue
            print(f"running {name} benchmarks...", file=sys.stderr, flush=True)
            rows += module.run(Path(scratch))
    print(
        f"Machine: {platform.machine()}, {platform.processor() or 'cpu'}, Python {platform.python_version()}"
    )
    print(table(rows))


if __name__ == "__main__":
    main(sys.argv[1:])
