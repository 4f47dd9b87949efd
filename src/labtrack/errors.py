"""One exception tree for everything labtrack raises on purpose.

Every error a user can cause is a :class:`LabtrackError`. Errors that cross the
HTTP boundary carry the MLflow error code and the HTTP status they map to as
class attributes, so the server renders them without a lookup table and the
REST client turns an error response back into the same class.
"""

from __future__ import annotations

from typing import Any, ClassVar


class LabtrackError(Exception):
    """Base class of every error labtrack raises deliberately."""

    error_code: ClassVar[str] = "INTERNAL_ERROR"
    http_status: ClassVar[int] = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_json(self) -> dict[str, Any]:
        """The body MLflow's REST API sends for this error."""
        return {"error_code": self.error_code, "message": self.message}


class InvalidParameterValue(LabtrackError):
    """The caller passed a value that breaks a rule (format, length, limit, immutability)."""

    error_code = "INVALID_PARAMETER_VALUE"
    http_status = 400


class BadRequest(LabtrackError):
    """The request itself is malformed (unparsable body, wrong content type)."""

    error_code = "BAD_REQUEST"
    http_status = 400


class ResourceAlreadyExists(LabtrackError):
    error_code = "RESOURCE_ALREADY_EXISTS"
    http_status = 400


class ResourceDoesNotExist(LabtrackError):
    error_code = "RESOURCE_DOES_NOT_EXIST"
    http_status = 404


class EndpointNotFound(LabtrackError):
    error_code = "ENDPOINT_NOT_FOUND"
    http_status = 404


class InvalidState(LabtrackError):
    """The operation is not allowed in the entity's current state (e.g. a deleted run)."""

    error_code = "INVALID_STATE"
    http_status = 400


class PermissionDenied(LabtrackError):
    error_code = "PERMISSION_DENIED"
    http_status = 403


class Unauthenticated(LabtrackError):
    error_code = "UNAUTHENTICATED"
    http_status = 401


class PayloadTooLarge(LabtrackError):
    """A request body over the server's limit (413, so clients do not retry it)."""

    error_code = "INVALID_PARAMETER_VALUE"
    http_status = 413


class RequestLimitExceeded(LabtrackError):
    error_code = "REQUEST_LIMIT_EXCEEDED"
    http_status = 429


class NotImplementedYet(LabtrackError):
    """A documented MLflow endpoint or feature labtrack does not provide yet."""

    error_code = "NOT_IMPLEMENTED"
    http_status = 501


class TemporarilyUnavailable(LabtrackError):
    """The backing store or server cannot be reached right now; retrying may succeed."""

    error_code = "TEMPORARILY_UNAVAILABLE"
    http_status = 503


class InternalError(LabtrackError):
    error_code = "INTERNAL_ERROR"
    http_status = 500


class ConfigurationError(LabtrackError):
    """A setting, tracking URI or config file is wrong. Raised on the client side only."""

    error_code = "INVALID_PARAMETER_VALUE"
    http_status = 400


class LoggingError(LabtrackError):
    """A queued write failed in the background; raised on the caller's next call or flush."""


_BY_CODE: dict[str, type[LabtrackError]] = {
    cls.error_code: cls
    for cls in (
        InvalidParameterValue,
        BadRequest,
        ResourceAlreadyExists,
        ResourceDoesNotExist,
        EndpointNotFound,
        InvalidState,
        PermissionDenied,
        Unauthenticated,
        RequestLimitExceeded,
        NotImplementedYet,
        TemporarilyUnavailable,
        InternalError,
    )
}


def error_from_code(error_code: str, message: str) -> LabtrackError:
    """Rebuild the exception a server sent as ``{"error_code", "message"}``."""
    cls = _BY_CODE.get(error_code, LabtrackError)
    err = cls(message)
    if cls is LabtrackError:
        err.error_code = error_code  # type: ignore[misc]
    return err
