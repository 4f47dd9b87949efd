"""The scoring server of ``labtrack models serve``: MLflow's scoring protocol over one model.

``create_app(model)`` is a plain ASGI application (no framework on the request path):

- ``POST /invocations``: a JSON, CSV or Parquet body (see :mod:`._scoring`) ->
  ``{"predictions": ...}``. A malformed body or an input that does not match the
  model's signature is a 400 with MLflow's error JSON (``{"error_code": "BAD_REQUEST"
  | "INVALID_PARAMETER_VALUE", "message": ...}``); so is an input the model itself
  raises on (NaN for a model that takes none, say: ``BAD_REQUEST``, as MLflow answers);
  a body over the size limit a 413; an unsupported content type a 415. Only a failure
  of the server itself is a 500 (``INTERNAL_ERROR``), and the server goes on serving;
- ``GET /ping`` (200, empty), ``GET /health`` (200, the model's URI and id as JSON),
  ``GET /version`` (labtrack's version, as text).

Small requests are predicted inline on the event loop while the model answers them
quickly (a thread hop costs about 0.4 ms, a third of a fast model's request); larger
requests, and every request once the model has twice taken longer than
``INLINE_SECONDS`` (once could be a cold start or a pause of the machine), are predicted
in a worker thread, so ``/ping`` still answers while they run.
``app_from_environment`` is the factory each ``--workers`` process calls;
``read_prediction_log(dir)`` reads a ``--log-predictions`` directory back as a DataFrame.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from labtrack.config import DEFAULT_MAX_BODY_BYTES
from labtrack.errors import (
    BadRequest,
    ConfigurationError,
    EndpointNotFound,
    InternalError,
    LabtrackError,
    PayloadTooLarge,
)
from labtrack.models._prediction_log import PredictionLog, read_prediction_log
from labtrack.models._scoring import ScoringRequest, parse_request, predictions_to_json

if TYPE_CHECKING:
    from labtrack.models.pyfunc import PyFuncModel

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "PredictionLog",
    "ScoringServer",
    "app_from_environment",
    "create_app",
    "read_prediction_log",
]

logger = logging.getLogger("labtrack.models.serve")

#: Bodies up to this size are predicted on the event loop; larger ones in a thread.
INLINE_BODY_BYTES = 64 * 1024
#: A model that takes longer than this on two inline requests is predicted in a thread
#: from then on (a slow model must not hold up /ping, /health or other requests).
INLINE_SECONDS = 0.025

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_JSON = [(b"content-type", b"application/json")]
_TEXT = [(b"content-type", b"text/plain; charset=utf-8")]
_ROUTES = {
    "/invocations": ("POST",),
    "/ping": ("GET", "HEAD"),
    "/health": ("GET", "HEAD"),
    "/version": ("GET", "HEAD"),
}

# Environment of ``--workers`` processes (set by the CLI, read by app_from_environment):
# the serve_* settings of labtrack/config.py.
ENV_MODEL_PATH = "LABTRACK_SERVE_MODEL_PATH"
ENV_MODEL_URI = "LABTRACK_SERVE_MODEL_URI"
ENV_LOG_DIR = "LABTRACK_SERVE_LOG_PREDICTIONS"
ENV_MAX_BODY = "LABTRACK_SERVE_MAX_BODY_BYTES"


class ScoringServer:
    """The ASGI app serving one loaded model."""

    def __init__(
        self,
        model: PyFuncModel,
        *,
        model_uri: str | None = None,
        prediction_log: PredictionLog | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        inline_body_bytes: int = INLINE_BODY_BYTES,
    ) -> None:
        from labtrack import __version__

        self.model = model
        self.model_uri = model_uri or str(model.path)
        self.prediction_log = prediction_log
        self.max_body_bytes = max_body_bytes
        self.inline_body_bytes = inline_body_bytes
        self.inline = True  # until the model has been slow twice
        self._slow_inline = 0
        self._schema = model.input_schema
        self._version = __version__.encode()
        self._health = json.dumps(
            {"status": "OK", "model_uri": self.model_uri, "model_id": model.model_id}
        ).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if self.prediction_log is not None:
                    self.prediction_log.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.prediction_log is not None:
                    await asyncio.get_running_loop().run_in_executor(
                        None, self.prediction_log.close
                    )
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path, method = scope["path"], scope["method"]
        route = path.rstrip("/") or "/"
        allowed = _ROUTES.get(route)
        if allowed is None:
            missing = EndpointNotFound(f"No endpoint at {method} {path}")
            return await _respond(send, 404, _error_body(missing), _JSON)
        if method not in allowed:
            wrong = BadRequest(f"Method {method} is not allowed on {path}")
            headers = [*_JSON, (b"allow", ", ".join(allowed).encode())]
            return await _respond(send, 405, _error_body(wrong), headers)
        if route == "/invocations":
            status, body = await self._invocations(scope, receive)
            return await _respond(send, status, body, _JSON)
        if route == "/ping":
            return await _respond(send, 200, b"", _TEXT)
        if route == "/health":
            return await _respond(send, 200, self._health, _JSON)
        return await _respond(send, 200, self._version, _TEXT)

    async def _invocations(self, scope: Scope, receive: Receive) -> tuple[int, bytes]:
        try:
            body = await _read_body(scope, receive, self.max_body_bytes)
            content_type = _header(scope, b"content-type")
            if self.inline and len(body) <= self.inline_body_bytes:
                started = time.perf_counter()
                try:
                    return 200, self._score(body, content_type)
                finally:
                    if time.perf_counter() - started > INLINE_SECONDS:
                        self._slow_inline += 1
                        if self._slow_inline >= 2:
                            self.inline = False
                            logger.info("The model is slow: predicting in a thread from now on")
            loop = asyncio.get_running_loop()
            return 200, await loop.run_in_executor(None, self._score, body, content_type)
        except LabtrackError as exc:
            if exc.http_status >= 500:
                logger.error("POST /invocations failed: %s", exc.message)
            return exc.http_status, _error_body(exc)
        except Exception as exc:
            logger.exception("POST /invocations failed")
            error = InternalError(f"The scoring server failed: {type(exc).__name__}: {exc}")
            return 500, _error_body(error)

    def _score(self, body: bytes, content_type: str | None) -> bytes:
        request = parse_request(body, content_type, self._schema)
        _check_not_empty(request.data)
        predictions = self._predict(request)
        response = predictions_to_json(predictions)
        if self.prediction_log is not None:
            self.prediction_log.record(request.data, request.params, predictions, len(body))
        return response

    def _predict(self, request: ScoringRequest) -> Any:
        """The model's predictions; an exception the model raises is the request's fault
        (it passed the signature check, but the model refuses it), so a 400 as in MLflow:
        a model that fails every request shows in the log, one line each (with the
        traceback at --log-level debug)."""
        try:
            return self.model.predict(request.data, request.params)
        except LabtrackError:
            raise
        except Exception as exc:
            message = f"The model failed to predict on this input: {type(exc).__name__}: {exc}"
            logger.warning("POST /invocations: %s", message.splitlines()[0])
            logger.debug("The model's traceback", exc_info=True)
            raise BadRequest(message) from exc


def _check_not_empty(data: Any) -> None:
    try:
        size = len(data)
    except TypeError:
        return
    if size == 0:
        raise BadRequest("The request has no input rows to predict")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


async def _read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    length = _header(scope, b"content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise PayloadTooLarge(
            f"The request body of {length} bytes is larger than the limit of {limit} bytes"
        )
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise BadRequest("The client disconnected before sending the whole body")
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"The request body is larger than the limit of {limit} bytes")
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _error_body(error: LabtrackError) -> bytes:
    return json.dumps(error.to_json()).encode()


async def _respond(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def create_app(
    model: PyFuncModel,
    *,
    model_uri: str | None = None,
    log_predictions: str | os.PathLike[str] | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> ScoringServer:
    """The scoring server's ASGI app for a loaded model (``lt.pyfunc.load_model(uri)``).

    ``log_predictions``: a directory for the prediction log (JSON lines; see
    :mod:`labtrack.models._prediction_log`).
    """
    log = None
    if log_predictions is not None:
        schema = model.input_schema
        columns = (
            schema.input_names()
            if schema is not None and schema.has_input_names() and not schema.is_tensor_spec()
            else None
        )
        log = PredictionLog(
            log_predictions,
            model_uri=model_uri or str(model.path),
            model_id=model.model_id,
            columns=columns,
        )
    return ScoringServer(
        model, model_uri=model_uri, prediction_log=log, max_body_bytes=max_body_bytes
    )


def environment_for_workers(
    model_path: str, model_uri: str, log_predictions: str | None, max_body_bytes: int
) -> dict[str, str]:
    """What :func:`app_from_environment` reads in each worker process."""
    env = {ENV_MODEL_PATH: model_path, ENV_MODEL_URI: model_uri, ENV_MAX_BODY: str(max_body_bytes)}
    if log_predictions:
        env[ENV_LOG_DIR] = log_predictions
    return env


def app_from_environment() -> ScoringServer:
    """The app of one ``--workers`` process: loads the model the CLI resolved."""
    from labtrack.config import settings
    from labtrack.models.pyfunc import load_pyfunc

    path = settings.get("serve_model_path")
    if not path:
        raise ConfigurationError(f"{ENV_MODEL_PATH} names no model: start workers from the CLI")
    return create_app(
        load_pyfunc(path),
        model_uri=settings.get("serve_model_uri"),
        log_predictions=settings.get("serve_log_predictions"),
        max_body_bytes=settings.get("serve_max_body_bytes"),
    )
