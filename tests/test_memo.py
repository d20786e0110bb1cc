"""The one bounded-cache facility: results remembered, bounded, clearable."""

from __future__ import annotations

from headerware.memo import Memo, clear_all


def test_remembers_results_and_stays_bounded() -> None:
    calls: list[str] = []

    def compute(key: str) -> str:
        calls.append(key)
        return key.upper()

    memo: Memo[str, str] = Memo("test", compute, size=4, max_key_length=8)
    assert memo("a") == memo("a") == "A"
    assert calls == ["a"], "computed once"
    for index in range(10):
        memo(f"k{index}")
    assert len(memo) <= 4, "distinct keys never grow it past its size"
    long_key = "x" * 9
    assert memo(long_key) == long_key.upper()
    assert memo(long_key) == long_key.upper()
    assert calls.count(long_key) == 2, "keys over max_key_length are never stored"


def test_clear_all_empties_every_memo() -> None:
    memo: Memo[int, int] = Memo("squares", lambda n: n * n)
    memo(3)
    assert len(memo) == 1
    clear_all()
    assert len(memo) == 0
    assert memo(3) == 9
