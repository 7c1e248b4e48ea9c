"""The measuring instruments: `creditstream bench` and its floors, peers, load and figures.

Kept apart from the tools a user runs (replay, backtest, simulate, dump, produce, acls): nothing
outside `streams.tools` imports from here, and the worker and engine never import `streams.tools`
at all (tests/unit/test_layers.py).
"""
