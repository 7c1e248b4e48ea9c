"""Offline and operator tools behind the CLI: replay, simulate, produce, backtest, dump, bench."""
