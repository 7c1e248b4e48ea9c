"""What every policy section shares: strict, frozen models and the numeric types they use."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["Rate", "Score", "StrictModel"]

Rate = Annotated[Decimal, Field(ge=0, le=1, decimal_places=4)]
Score = Annotated[int, Field(ge=0, le=2000)]


class StrictModel(BaseModel):
    """Unknown keys are errors (a typo never passes silently), and a loaded policy never changes."""

    model_config = ConfigDict(extra="forbid", frozen=True)
