"""The `creditstream` command's entry point: a clear message when the worker extra is missing.

The base install (contracts, producer, decision client) has no CLI dependencies; the commands need
`pip install 'creditstream[worker]'`.
"""

from __future__ import annotations

import importlib.util
import sys

__all__ = ["main"]


def main() -> None:
    missing = [name for name in ("typer", "faust") if importlib.util.find_spec(name) is None]
    if missing:
        print(
            f"creditstream: the commands need the worker extra ({', '.join(missing)} not installed): "
            "pip install 'creditstream[worker]'",
            file=sys.stderr,
        )
        sys.exit(2)
    from streams.cli import main as cli_main
    from streams.gc_tuning import tune_gc

    tune_gc()
    cli_main()
