"""How a step's failure is classified: worth retrying later, or final with a reason for the user."""

from __future__ import annotations

from dataclasses import dataclass

from pymongo.errors import ConnectionFailure

from fiware.errors import FiwareError, FiwareNotFound, FiwareUnavailable


class StepFailed(Exception):
    """A deterministic failure (bad data, bad configuration): the job fails at once, no retry."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class TaskIdentity:
    """The task running a step, as the lease records it."""

    task_id: str
    worker: str
    # A redelivered message: the process that ran it died, and this is another attempt.
    redelivered: bool = False
    # A retry the task asked for itself (a transient upstream failure): not a lost worker.
    retried: bool = False
    # Sent again by the watchdog for a step that went silent: it takes the step over only while the
    # step waits (lease inactive), never from a run that is alive.
    driven: bool = False

    @property
    def resumable(self) -> bool:
        """Whether this task may take over the step its own earlier run claimed."""
        return self.redelivered or self.retried or self.driven


def is_transient(error: BaseException) -> bool:
    """Worth another try later: FIWARE unavailable, or MongoDB briefly unreachable (a failover)."""
    return isinstance(error, FiwareUnavailable | ConnectionFailure)


def describe_fiware(error: FiwareError) -> StepFailed:
    """A final FIWARE failure in words a user can act on (upstream bodies stay in the logs)."""
    if isinstance(error, FiwareNotFound):
        return StepFailed("NOT_FOUND", f"{error.service} has no such series (404)")
    if isinstance(error, FiwareUnavailable):
        status = f" (status {error.status})" if error.status else ""
        return StepFailed("UNAVAILABLE", f"{error.service} stayed unavailable{status} after retries")
    if error.status is None:
        # Not an HTTP refusal but an answer we could not use; the message is ours, not upstream's.
        return StepFailed("UPSTREAM_ERROR", str(error))
    return StepFailed("UPSTREAM_ERROR", f"{error.service} refused a request with status {error.status}")


__all__ = ["StepFailed", "TaskIdentity", "describe_fiware", "is_transient"]
