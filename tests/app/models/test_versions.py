"""Comparing versions: the configuration fields in which jobs differ, as a user reads them."""

from __future__ import annotations

from app.models.versions import ConfigDifference, differences_of


def test_only_differing_leaves_are_listed_with_camel_case_paths_in_order() -> None:
    first = {"epochs": 2, "lookback_window": 8, "rnn_layers": [{"units": 4, "dropout": 0.0}], "tags": [1, 2]}
    second = {"epochs": 3, "lookback_window": 8, "rnn_layers": [{"units": 8, "dropout": 0.0}], "tags": [1, 2]}
    assert differences_of([first, second]) == [
        ConfigDifference(field="epochs", values=["2", "3"]),
        ConfigDifference(field="rnnLayers.0.units", values=["4", "8"]),
    ]


def test_a_field_one_job_lacks_reads_null_and_a_list_of_numbers_is_one_value() -> None:
    first = {"rnn_layers": [{"units": 4}], "interval_levels": [0.8, 0.95]}
    second = {"rnn_layers": [{"units": 4}, {"units": 2}], "interval_levels": [0.9]}
    # Paths come in the order they first appear, job by job.
    assert differences_of([first, second]) == [
        ConfigDifference(field="intervalLevels", values=["[0.8, 0.95]", "[0.9]"]),
        ConfigDifference(field="rnnLayers.1.units", values=["null", "2"]),
    ]
    assert differences_of([first, first, first]) == []
