"""Match fields: a recording's index keys agree with the comparison, so a lookup finds what comparing finds."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from recorder.model.cassette import REDACTED
from recorder.replay.match_fields import FIELDS, holds_redacted, same_value
from recorder.replay.vocabulary import MatchField

scalars = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from([1.0, 2.5, -0.0]), st.sampled_from(["a", "1", "", REDACTED]))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from("xyz"), inner, max_size=3), max_leaves=6)
inputs = st.lists(st.fixed_dictionaries({"name": st.sampled_from(["q", "n"]), "type": st.sampled_from(["STRING", "NUMBER"]), "value": values}), max_size=3)
bodies = st.fixed_dictionaries({}, optional={
    "workflow_deployment_name": st.sampled_from(["support", "billing"]),
    "workflow_deployment_id": st.sampled_from(["id-1", "id-2"]),
    "release_tag": values,
    "external_id": values,
    "metadata": values,
    "previous_execution_id": values,
    "inputs": inputs | values,
})


@given(bodies, bodies, st.sampled_from(list(MatchField)))
def test_keys_are_shared_exactly_when_the_field_finds_no_difference(asked: dict[str, Any], recorded: dict[str, Any], name: MatchField) -> None:
    field = FIELDS[name]
    if holds_redacted(recorded):
        return
    asked_reading, recorded_reading = field.read(asked, False), field.read(recorded, True)
    _, differences = field.compare(asked_reading, recorded_reading)
    shared = set(field.keys(asked_reading)) & set(field.keys(recorded_reading))
    assert bool(shared) == (not differences)


def test_numbers_compare_by_value_and_booleans_by_type() -> None:
    assert same_value(3, 3.0)
    assert not same_value(True, 1)
    assert not same_value("1", 1)


def test_a_recorded_redacted_value_equals_anything_at_any_depth() -> None:
    assert same_value({"a": [1, {"b": "secret"}]}, {"a": [1, {"b": REDACTED}]})
    assert not same_value(REDACTED, "secret")
