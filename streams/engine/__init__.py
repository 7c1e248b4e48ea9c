"""The credit engine: pure, deterministic, no Kafka or Faust. ``apply`` is the one entry point.

``ENGINE`` says whether the compiled build (mypyc) or plain Python runs (streams.engine.compiled).
"""

from streams.engine.compiled import use_compiled_engine

ENGINE = use_compiled_engine(__path__)

from streams.engine.apply import Applied, EngineOutput, apply, decision_id, new_user  # noqa: E402
from streams.engine.state import StateDecodeError, UserState  # noqa: E402

__all__ = [
    "ENGINE",
    "Applied",
    "EngineOutput",
    "StateDecodeError",
    "UserState",
    "apply",
    "decision_id",
    "new_user",
]
