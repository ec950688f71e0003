"""The IN-list slicing every component's storage uses."""

from domain.schema import IN_LIST_SIZE, in_chunks


def test_values_come_back_whole_in_order_in_lists_of_at_most_the_size() -> None:
    values = list(range(2 * IN_LIST_SIZE + 1))
    slices = list(in_chunks(values))
    assert [len(s) for s in slices] == [IN_LIST_SIZE, IN_LIST_SIZE, 1]
    assert [v for s in slices for v in s] == values


def test_no_values_make_no_lists() -> None:
    assert list(in_chunks([])) == []
    assert list(in_chunks("abc", size=2)) == ["ab", "c"]
