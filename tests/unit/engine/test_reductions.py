"""streams.engine.features: the loops that replaced sum() and max() of generators (for the compiled
engine) give what those expressions gave."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from streams.engine.features import _late_on, _total_of, _worst_of, sales_stability_pct, window_total

counts = st.lists(st.integers(min_value=0, max_value=10**6), min_size=4, max_size=4)
indices = st.lists(st.integers(min_value=0, max_value=3), max_size=4, unique=True).map(tuple)
late = st.lists(st.tuples(st.integers(19_000, 21_000), st.integers(0, 3)).map(list), max_size=30)


@given(counts, indices, late, st.dictionaries(st.integers(19_000, 21_000), st.integers(-(10**9), 10**9)))
def test_each_loop_gives_what_its_expression_gave(
    values: list[int], products: tuple[int, ...], late_repayments: list[list[int]], window: dict[int, int]
) -> None:
    assert _worst_of(values, products) == max((values[i] for i in products), default=0)
    assert _total_of(values, products) == sum(values[i] for i in products)
    assert _late_on(late_repayments, products) == sum(1 for _, p in late_repayments if p in products)
    assert window_total(window) == sum(window.values())


@given(
    st.dictionaries(st.integers(19_900, 20_100), st.integers(0, 10**9), max_size=120),
    st.integers(min_value=1, max_value=200),
)
def test_sales_stability_splits_the_window_in_thirds_as_before(sales: dict[int, int], long_days: int) -> None:
    today = 20_050
    third = max(1, long_days // 3)
    blocks = [0, 0, 0]  # the list the three locals replaced
    for day, amount in sales.items():
        age = today - day
        if 0 <= age < 3 * third:
            blocks[age // third] += amount
    strongest = max(blocks)
    assert sales_stability_pct(sales, today, long_days) == (100 * min(blocks) / strongest if strongest else 0)
