"""The credit engine: pure, deterministic, no Kafka or Faust. ``apply`` is the one entry point."""

from streams.engine.apply import Applied, EngineOutput, apply, decision_id, new_user
from streams.engine.state import StateDecodeError, UserState

__all__ = ["Applied", "EngineOutput", "StateDecodeError", "UserState", "apply", "decision_id", "new_user"]
