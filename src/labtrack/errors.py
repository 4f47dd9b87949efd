"""One exception tree for everything labtrack raises on purpose.

Every error a user can cause is a :class:`LabtrackError`. Errors that cross the
HTTP boundary carry the MLflow error code and the HTTP status they map to as
class attributes, so the server renders them without a lookup table and the
REST client turns an error response back into the same class.
"""

from __future__ import annotations

from typing import Any, ClassVar


class LabtrackError(Exception):
    """Base class of every error labtrack raises deliberately.

    It is also MLflow's ``MlflowException`` (``labtrack.exceptions.MlflowException`` is
    this class), so code written for MLflow catches labtrack's errors and reads them the
    same way: ``error_code``, ``message``, ``get_http_status_code()``,
    ``serialize_as_json()``, and ``MlflowException("...", error_code="...")`` to raise one.
    """

    error_code: str = "INTERNAL_ERROR"
    http_status: ClassVar[int] = 500

    def __init__(self, message: object, error_code: str | None = None, **kwargs: Any) -> None:
        """``error_code`` overrides the class's (MLflow's names, such as
        ``"RESOURCE_DOES_NOT_EXIST"``); ``kwargs`` are extra fields of the JSON body, as
        MLflow's ``json_kwargs``."""
        message = str(message)
        super().__init__(message)
        self.message = message
        if error_code is not None:
            self.error_code = str(error_code)
        self.json_kwargs = kwargs

    def to_json(self) -> dict[str, Any]:
        """The body MLflow's REST API sends for this error."""
        return {**self.json_kwargs, "error_code": self.error_code, "message": self.message}

    def serialize_as_json(self) -> str:
        """:meth:`to_json` as a JSON string (MLflow's name)."""
        import json

        return json.dumps(self.to_json())

    def get_http_status_code(self) -> int:
        """The HTTP status this error is sent with: the class's, or that of the error code
        given to the constructor."""
        if self.error_code == type(self).error_code:
            return self.http_status
        cls = _BY_CODE.get(self.error_code)
        return cls.http_status if cls is not None else 500

    @classmethod
    def invalid_parameter_value(cls, message: object, **kwargs: Any) -> LabtrackError:
        """An error with MLflow's ``INVALID_PARAMETER_VALUE`` code (as MLflow's classmethod)."""
        if issubclass(InvalidParameterValue, cls):
            return InvalidParameterValue(message, **kwargs)
        return cls(message, error_code=InvalidParameterValue.error_code, **kwargs)


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


class QueryTimeout(LabtrackError):
    """A database query ran past the statement timeout (the server's
    ``server_statement_timeout``) and was stopped. MLflow's code for it, with 400 rather
    than MLflow's 504: clients (MLflow's retries every 5xx) should not send the same
    expensive query again, but make it cheaper."""

    error_code = "DEADLINE_EXCEEDED"
    http_status = 400


class InternalError(LabtrackError):
    error_code = "INTERNAL_ERROR"
    http_status = 500


class ConfigurationError(LabtrackError):
    """A setting, tracking URI or config file is wrong. Raised on the client side only."""

    error_code = "INVALID_PARAMETER_VALUE"
    http_status = 400


class MissingDependency(LabtrackError):
    """An optional library a feature needs is not installed; the message names the pip
    command that installs it. Raised on the client side, before anything is written."""


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
        QueryTimeout,
        InternalError,
    )
}


def error_from_code(error_code: str, message: str) -> LabtrackError:
    """Rebuild the exception a server sent as ``{"error_code", "message"}``."""
    cls = _BY_CODE.get(error_code, LabtrackError)
    return cls(message, error_code=None if cls is not LabtrackError else error_code)
