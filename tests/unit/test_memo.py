"""The per-process memo of immutable facts that run creation reads through."""

from api_server.services.memo import Memo


def test_a_full_memo_is_emptied_before_it_takes_more() -> None:
    memo: Memo[str, int] = Memo(capacity=2)
    memo.put("a", 1)
    memo.put("b", 2)
    assert (memo.get("a"), memo.get("b")) == (1, 2)
    memo.put("c", 3)
    assert (memo.get("a"), memo.get("b"), memo.get("c")) == (None, None, 3)


def test_a_forgotten_fact_is_read_again() -> None:
    memo: Memo[str, int] = Memo()
    memo.put("a", 1)
    memo.forget("a")
    memo.forget("never there")
    assert memo.get("a") is None
