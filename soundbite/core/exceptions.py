"""Errors of the service package: a base class and short leaves the API maps to problems."""

from __future__ import annotations


class ServiceError(Exception):
    """Base of every error the service raises on purpose."""


class InvalidRequest(ServiceError):
    """The request is malformed; `errors` lists each field with a JSON pointer and a hint."""

    def __init__(self, detail: str, errors: list[dict] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []


class StorageRejected(InvalidRequest):
    """DynamoDB refused a value as invalid (`ValidationException`): the request's fault,
    and no retry of the same request can succeed."""

    def __init__(self, detail: str) -> None:
        super().__init__("the request holds a value the store cannot keep",
                         [{"pointer": "", "detail": detail}])


class NotFound(ServiceError):
    """No soundbite with that id (in this environment)."""


class NotReady(ServiceError):
    """The soundbite exists but has no audio yet."""

    def __init__(self, status: str) -> None:
        super().__init__(f"the soundbite is {status}; audio exists only when it is ready")
        self.status = status


class StateConflict(ServiceError):
    """A conditional write lost: the record is not in the state the change expects."""


class DependencyUnavailable(ServiceError):
    """DynamoDB, SQS or S3 did not answer or refused; the request may be retried."""

    def __init__(self, dependency: str, detail: str) -> None:
        super().__init__(f"{dependency}: {detail}")
        self.dependency = dependency
