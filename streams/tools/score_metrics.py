"""A score measured as risk teams measure one: discrimination (AUC, Gini, KS), bad rate and odds by
score band (and how closely the odds double every fixed number of points), and stability (PSI).

The ROC statistics are scikit-learn's (``roc_auc_score``, ``roc_curve``); PSI and the odds fit are a
few lines of numpy over the same bands the backtest reports. A higher score means lower risk, so
AUC here is the chance that a random good outranks a random bad.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Final

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

__all__ = ["band_table", "discrimination", "odds_doubling", "population_stability"]

PSI_FLOOR: Final = 0.0001  # a band empty on one side counts as this share: PSI stays finite


def discrimination(scores: Sequence[int], bads: Sequence[bool]) -> dict[str, float | None]:
    """AUC, Gini (2 AUC - 1) and KS (the largest gap between the goods' and the bads' cumulative
    score distributions); None when the sample has no goods or no bads."""
    if not scores or all(bads) or not any(bads):
        return {"auc": None, "gini": None, "ks": None}
    goods = np.array([not bad for bad in bads], dtype=int)
    values = np.array(scores, dtype=float)
    auc = float(roc_auc_score(goods, values))
    false_positive, true_positive, _ = roc_curve(goods, values)
    ks = float(np.max(true_positive - false_positive))
    return {"auc": round(auc, 4), "gini": round(2 * auc - 1, 4), "ks": round(ks, 4)}


def band_table(
    scores: Sequence[int], bads: Sequence[bool], bands: Sequence[tuple[int, str]]
) -> list[dict[str, Any]]:
    """Per band (``bands`` as (lowest score, name), ascending): volume, bads, bad rate and the
    good:bad odds (None without a bad)."""
    lows = [low for low, _ in bands]
    counts = [0] * len(bands)
    bad_counts = [0] * len(bands)
    for score, bad in zip(scores, bads, strict=True):
        index = max(0, int(np.searchsorted(lows, score, side="right")) - 1)
        counts[index] += 1
        bad_counts[index] += bad
    return [
        {
            "band": name,
            "count": count,
            "bads": bad,
            "bad_rate": round(bad / count, 4) if count else None,
            "odds": round((count - bad) / bad, 3) if bad else None,
        }
        for (_, name), count, bad in zip(bands, counts, bad_counts, strict=True)
    ]


def odds_doubling(
    table: list[dict[str, Any]], bands: Sequence[tuple[int, str]], top: int = 950
) -> dict[str, float | None]:
    """How closely the odds double every fixed number of points: a least-squares line through
    log2(odds) against each band's middle score, over the bands with both goods and bads. Its
    slope's inverse is the points that double the odds (a scorecard's PDO); r2 says how straight."""
    highs = [low for low, _ in bands[1:]] + [top + 1]  # ``top``: the score's maximum
    points = [
        ((low + high - 1) / 2, math.log2(row["odds"]))
        for (low, _), high, row in zip(bands, highs, table, strict=True)
        if row["odds"]
    ]
    if len(points) < 3:
        return {"points_to_double_odds": None, "r2": None, "bands_fitted": len(points)}
    x = np.array([p[0] for p in points])
    y = np.array([p[1] for p in points])
    slope, intercept = np.polyfit(x, y, 1)
    fitted = slope * x + intercept
    total = float(np.sum((y - y.mean()) ** 2))
    r2 = 1 - float(np.sum((y - fitted) ** 2)) / total if total else None
    return {
        "points_to_double_odds": round(1 / float(slope), 1) if slope > 0 else None,
        "r2": round(r2, 4) if r2 is not None else None,
        "bands_fitted": len(points),
    }


def population_stability(
    expected: Sequence[int], actual: Sequence[int], bands: Sequence[tuple[int, str]]
) -> float | None:
    """PSI of ``actual``'s score distribution against ``expected``'s over the bands:
    sum((a - e) ln(a / e)). Under 0.1 is stable, 0.1 to 0.25 a shift to look at, above 0.25 a
    population that moved. None when either side is empty."""
    if not expected or not actual:
        return None
    lows = np.array([low for low, _ in bands])

    def shares(scores: Sequence[int]) -> Any:
        index = np.clip(np.searchsorted(lows, np.array(scores), side="right") - 1, 0, len(lows) - 1)
        counts = np.bincount(index, minlength=len(lows)).astype(float)
        return np.maximum(counts / counts.sum(), PSI_FLOOR)

    e, a = shares(expected), shares(actual)
    return round(float(np.sum((a - e) * np.log(a / e))), 4)
