from __future__ import annotations

from app.errors import MAX_MESSAGE, cut_echoes, quoted


def test_quoted_keeps_short_values_whole_and_cuts_long_ones_to_a_prefix() -> None:
    assert quoted("abc") == "'abc'"
    assert quoted("9" * 200_000) == f"'{'9' * 40}'… (200,000 characters)"


def test_cut_echoes_shortens_long_runs_and_long_messages_only() -> None:
    ordinary = "STH-Comet holds 12 points of urn:ngsi-ld:WaterQualityObserved:NERACOOS-B01/temperature"
    assert cut_echoes(ordinary) == ordinary
    echoed = f"Cannot query field '{'a' * 100_000}' on type 'Query'."
    # The run includes its quotes: 100,000 characters and two quotes.
    assert cut_echoes(echoed) == f"Cannot query field '{'a' * 39}… (100,002 characters) on type 'Query'."
    words = "word " * 1_000
    assert len(cut_echoes(words)) <= MAX_MESSAGE + len("… (message cut)")
