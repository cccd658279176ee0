"""The closed sets a replay is configured with, as the strings users type.

Each set is a `StrEnum`, so a member compares equal to its string and the CLI, the pytest plugin and
the Python API validate against the same list. How a replayed exchange ends is
`recorder.model.vocabulary.Outcome`, the vocabulary recordings already use.
"""

from __future__ import annotations

from enum import StrEnum


class RecordMode(StrEnum):
    """When the pytest plugin calls the real API instead of replaying."""

    NONE = "none"  # replay only
    ONCE = "once"  # record a test whose cassette folder is missing, replay the others
    ALL = "all"  # record every test again


class MatchMode(StrEnum):
    """`strict`: every field in use agrees. `loose`: the deployment agrees, the rest picks the closest."""

    STRICT = "strict"
    LOOSE = "loose"


class MatchField(StrEnum):
    """The request fields a match rule can compare."""

    DEPLOYMENT = "deployment"
    RELEASE_TAG = "release_tag"
    INPUTS = "inputs"
    EXTERNAL_ID = "external_id"
    PREVIOUS_EXECUTION_ID = "previous_execution_id"
    METADATA = "metadata"


class TimingMode(StrEnum):
    """`instant`: as fast as the connection takes it. `recorded`: at the recorded arrival offsets."""

    INSTANT = "instant"
    RECORDED = "recorded"


class OnNoMatch(StrEnum):
    """What a replay transport does with a request no recording matches."""

    RAISE = "raise"  # a test fails loudly, with the closest recordings in the message
    RESPOND = "respond"  # a 404, as the replay server answers


def choices(vocabulary: type[StrEnum]) -> list[str]:
    """The values to offer on a command line (click's `Choice` would show members by name)."""
    return [member.value for member in vocabulary]
