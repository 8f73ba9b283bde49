"""The metric registry is consistent, and everything else reads it."""

from __future__ import annotations

from dashboard import present
from queries import domain, metrics


def test_keys_are_unique_and_every_family_expands() -> None:
    assert len(metrics.METRIC_KEYS) == len(set(metrics.METRIC_KEYS)) == 103
    for fam in metrics.FAMILIES:
        keys = [k for k, _ in fam.expand()]
        assert keys and all(k in metrics.FAMILY_OF for k in keys)
        assert all("{" not in k for k in keys)


def test_kinds_decide_formats_rollup_and_suppression() -> None:
    for key in metrics.METRIC_KEYS:
        fam = metrics.FAMILY_OF[key]
        # Only counts are summed up the tree and only counts are person-level.
        assert (fam.rollup == "sum") == (fam.kind == metrics.COUNT), key
        if fam.person_level:
            assert fam.kind == metrics.COUNT, key
        for part in metrics.DERIVED_FROM.get(key, ()):
            assert part in metrics.FAMILY_OF and part in metrics.PERSON_KEYS, (key, part)
    kinds = [metrics.PERCENT_KEYS, metrics.RATIO_KEYS, metrics.MEAN_KEYS]
    assert sum(len(k) for k in kinds) == len(metrics.DERIVED_KEYS)
    assert set().union(*kinds) == set(metrics.DERIVED_KEYS)


def test_other_modules_read_the_registry() -> None:
    assert not hasattr(domain, "METRIC_KEYS")  # one list, in the registry
    assert present.PERCENT_KEYS is metrics.PERCENT_KEYS
    assert all(present.is_person_count(k) == (k in metrics.PERSON_KEYS)
               for k in metrics.METRIC_KEYS)
    # A key nobody declared is hidden like a person count (the safe side).
    assert present.is_person_count("placements.something_new")
    assert present.fmt_value("circle.coverage", 0.5) == "50.0%"
    assert present.fmt_value("supply_demand_ratio", 1.234) == "1.23"
