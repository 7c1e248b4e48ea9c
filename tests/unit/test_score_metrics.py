"""Each score metric on a hand-made sample with a known answer."""

from __future__ import annotations

import math

import pytest

from streams.tools.score_metrics import band_table, discrimination, odds_doubling, population_stability

BANDS = [(350, "350-399"), (400, "400-449"), (450, "450-499")]


def test_a_score_that_ranks_every_good_above_every_bad_has_auc_gini_and_ks_of_1() -> None:
    assert discrimination([1, 2, 3, 4], [True, True, False, False]) == {"auc": 1.0, "gini": 1.0, "ks": 1.0}


def test_auc_gini_and_ks_of_a_partly_ordered_sample() -> None:
    # Goods score 2 and 4, bads 1 and 3: 3 of the 4 good-bad pairs are ordered right.
    assert discrimination([1, 2, 3, 4], [True, False, True, False]) == {"auc": 0.75, "gini": 0.5, "ks": 0.5}


def test_a_sample_without_goods_or_bads_has_no_discrimination() -> None:
    assert discrimination([500, 600], [False, False])["auc"] is None
    assert discrimination([], [])["ks"] is None


def test_bad_rate_and_odds_by_band() -> None:
    table = band_table(
        [360, 370, 380, 390, 410, 420, 460], [True, False, False, False, True, False, False], BANDS
    )
    assert [(r["count"], r["bads"], r["bad_rate"], r["odds"]) for r in table] == [
        (4, 1, 0.25, 3.0),
        (2, 1, 0.5, 1.0),
        (1, 0, 0.0, None),
    ]


def test_odds_that_double_every_50_points_fit_a_pdo_of_50() -> None:
    table = [{"odds": 1.0}, {"odds": 2.0}, {"odds": 4.0}]
    fit = odds_doubling(table, BANDS, top=499)
    assert fit == {"points_to_double_odds": 50.0, "r2": 1.0, "bands_fitted": 3}


def test_psi_of_a_50_50_population_moved_to_25_75() -> None:
    expected = [360] * 50 + [410] * 50
    actual = [360] * 25 + [410] * 75
    by_hand = (0.25 - 0.5) * math.log(0.25 / 0.5) + (0.75 - 0.5) * math.log(0.75 / 0.5)
    assert population_stability(expected, actual, BANDS) == pytest.approx(by_hand, abs=1e-4)
    assert population_stability(expected, expected, BANDS) == 0.0
    assert population_stability([], actual, BANDS) is None
