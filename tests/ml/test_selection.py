from __future__ import annotations

import numpy as np

from ml.baselines import baseline_forecast
from ml.selection import NETWORK, Candidate, choose

TRUTH = np.array([[1.0, 2.0], [3.0, 4.0]])


def candidate(name: str, offset: float) -> Candidate:
    return Candidate(name, None, TRUTH + offset, TRUTH + offset)


def test_the_lowest_validation_rmse_serves_and_the_reason_lists_every_candidate() -> None:
    served, chosen = choose([candidate(NETWORK, 0.5), candidate("persistence", 0.25)], TRUTH)
    assert (served.name, chosen.name, served.validation_rmse) == ("persistence", "persistence", 0.25)
    assert served.reason == "lowest validation RMSE (0.25; network 0.5)"


def test_a_tie_goes_to_the_network_and_an_unscorable_candidate_never_wins() -> None:
    served, _ = choose([candidate(NETWORK, 0.5), candidate("persistence", -0.5)], TRUTH)
    assert served.name == NETWORK
    broken = Candidate("seasonal_naive_daily", 24, np.full_like(TRUTH, np.inf), TRUTH)
    assert choose([candidate(NETWORK, 0.5), broken], TRUTH)[0].name == NETWORK
    nothing = choose([Candidate(NETWORK, None, TRUTH, TRUTH)], np.full_like(TRUTH, np.nan))[0]
    assert nothing.name == NETWORK and nothing.validation_rmse is None


def test_a_baseline_forecasts_from_the_newest_values() -> None:
    recent = np.arange(10.0)
    np.testing.assert_array_equal(baseline_forecast(recent, 3, None), [9.0, 9.0, 9.0])
    np.testing.assert_array_equal(baseline_forecast(recent, 5, 4), [6.0, 7.0, 8.0, 9.0, 6.0])
