"""core.batches.chunks: the one helper that cuts id lists and row lists into batches."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.batches import chunks


@given(st.lists(st.integers(), max_size=50), st.integers(min_value=1, max_value=12))
def test_chunks_keep_every_item_in_order_within_the_size(items: list[int], size: int) -> None:
    parts = list(chunks(items, size))
    assert [x for part in parts for x in part] == items
    assert all(1 <= len(part) <= size for part in parts)
    assert all(len(part) == size for part in parts[:-1])


def test_chunks_refuse_a_size_below_one() -> None:
    with pytest.raises(ValueError):
        list(chunks([1, 2], 0))
