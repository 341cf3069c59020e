"""The phases of a workflow and of its steps, as Argo names them, and the groups of them code asks about.

Records (run.json, step.json, Argo's status) hold the plain text; `Phase` members compare equal to it
(`Phase.FAILED == "Failed"`), and the groups are tuples of that text, so `record["phase"] in Phase.FAILED_LIKE`
holds whether the phase was read from JSON or is a member.
"""

from __future__ import annotations

from enum import Enum, nonmember


class Phase(str, Enum):
    """A node's or a workflow's phase (Argo's NodePhase / WorkflowPhase; "Stopped" is the local engine's stop)."""

    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    ERROR = "Error"
    SKIPPED = "Skipped"
    OMITTED = "Omitted"
    STOPPED = "Stopped"

    # Groups (not members). Tuples of the text: an Enum member's hash is its name's, so a set of members would
    # not find the text a record holds.
    FAILED_LIKE = nonmember(("Failed", "Error"))  # did not succeed, by the step's fault or its pod's
    COMPLETED = nonmember(("Succeeded", "Failed", "Error"))  # ran to an end (Argo's terminal phases)
    DONE = nonmember(("Succeeded", "Failed", "Error", "Stopped"))  # a run that will not change any more
    ENDED = nonmember(("Succeeded", "Failed", "Error", "Skipped", "Omitted", "Stopped"))  # a step that is over
    UNFINISHED = nonmember(("Running", "Pending"))  # still going, or about to
    RESUMABLE = nonmember(("Failed", "Error", "Stopped"))  # a run that ended without succeeding: it can be resumed

    def __str__(self) -> str:
        return self.value
