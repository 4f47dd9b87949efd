"""Artifacts in Amazon S3 or any S3-compatible store (MinIO, Ceph, moto, ...).

An artifact URI ``s3://bucket/prefix`` maps the artifact path ``a/b.txt`` to
the object key ``prefix/a/b.txt`` (just ``a/b.txt`` for ``s3://bucket``).
Directories are key prefixes: nothing is stored for them and an empty
directory cannot exist. An object whose key ends with ``/`` (a "folder"
created by a console) is read as a directory marker; its contents are ignored.
If both an object ``x`` and objects under ``x/`` exist (possible in S3, never in
a local directory), the object wins: ``x`` is reported as a file and listings
show it once, as a file; its sub-keys stay reachable by naming ``x`` explicitly.

Configuration, read from the environment on every call:

``LABTRACK_S3_ENDPOINT_URL`` (else ``MLFLOW_S3_ENDPOINT_URL``)
    An S3-compatible endpoint such as ``http://minio:9000``; unset means AWS.
``LABTRACK_S3_IGNORE_TLS`` (else ``MLFLOW_S3_IGNORE_TLS``)
    ``true`` disables TLS certificate verification.
``AWS_*``
    Credentials, profile, region (``AWS_DEFAULT_REGION``), retries: boto3's
    usual chain, untouched.

One boto3 client is shared per configuration (endpoint, TLS setting and
``AWS_*`` variables) per process; it is created on first use, is thread-safe,
and is never inherited by a forked child.

Failures a user can expect (missing object or bucket, refused credentials, no
credentials, unreachable endpoint) are raised as one-line
:class:`~labtrack.errors.LabtrackError` subclasses, never as raw botocore errors.
"""

from __future__ import annotations

import hashlib
import io
import logging
import mimetypes
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, BinaryIO

from labtrack.artifacts._paths import normalize_artifact_path
from labtrack.artifacts._uri import redact_uri, uri_scheme
from labtrack.artifacts.base import ArtifactRepository
from labtrack.entities import FileInfo
from labtrack.errors import (
    ConfigurationError,
    InternalError,
    InvalidParameterValue,
    LabtrackError,
    PermissionDenied,
    ResourceDoesNotExist,
    TemporarilyUnavailable,
)

try:
    import boto3
    import boto3.exceptions
    import botocore.config
    import botocore.exceptions
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    _BOTO3_MISSING: ImportError | None = exc
else:
    _BOTO3_MISSING = None

__all__ = ["S3ArtifactRepository", "parse_s3_uri"]

_log = logging.getLogger(__name__)

ENDPOINT_ENV = ("LABTRACK_S3_ENDPOINT_URL", "MLFLOW_S3_ENDPOINT_URL")
IGNORE_TLS_ENV = ("LABTRACK_S3_IGNORE_TLS", "MLFLOW_S3_IGNORE_TLS")

MAX_POOL_CONNECTIONS = 50  # per shared client
MAX_KEY_BYTES = 1024  # S3's limit on the length of an object key (UTF-8)
MAX_PRESIGN_SECONDS = 7 * 24 * 3600  # SigV4's limit on a presigned URL's lifetime

# Bucket names proper are stricter (3-63 chars of [a-z0-9.-]); this only keeps out
# what cannot be a bucket at all, such as credentials ("key:secret@bucket").
_BUCKET = re.compile(r"[A-Za-z0-9._-]{1,255}")

_NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NotFound"})
_NO_BUCKET_CODES = frozenset({"NoSuchBucket"})
_DENIED_CODES = frozenset(
    {
        "403",
        "AccessDenied",
        "AllAccessDisabled",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "InvalidToken",
        "TokenRefreshRequired",
        "AccountProblem",
    }
)
_BUSY_CODES = frozenset(
    {"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "Throttling"}
)
_BAD_REQUEST_CODES = frozenset({"InvalidBucketName", "KeyTooLongError", "InvalidArgument"})


# -- configuration and the shared clients -------------------------------------------


def _parse_bool(name: str, text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ConfigurationError(f"Invalid value for {name}: expected true or false, got {text!r}")


def _first_env(names: tuple[str, ...]) -> tuple[str, str] | None:
    for name in names:
        value = os.environ.get(name)
        if value:
            return name, value
    return None


@dataclass(frozen=True)
class S3Settings:
    """What decides which client a repository uses; read from the environment."""

    endpoint_url: str | None
    verify_tls: bool
    aws_env_digest: str  # sha256 of every AWS_* variable: credentials, profile, region, ...

    @classmethod
    def from_env(cls) -> S3Settings:
        endpoint = _first_env(ENDPOINT_ENV)
        endpoint_url = None
        if endpoint is not None:
            name, endpoint_url = endpoint
            endpoint_url = endpoint_url.strip().rstrip("/")
            if not re.match(r"^https?://[^/\s]+", endpoint_url, re.IGNORECASE):
                raise ConfigurationError(
                    f"Invalid {name} {redact_uri(endpoint_url)!r}: "
                    "expected an http:// or https:// URL such as http://localhost:9000"
                )
        ignore = _first_env(IGNORE_TLS_ENV)
        verify = not (ignore is not None and _parse_bool(*ignore))
        digest = hashlib.sha256()
        for key in sorted(k for k in os.environ if k.startswith("AWS_")):
            digest.update(f"{key}\x00{os.environ[key]}\x00".encode("utf-8", "surrogateescape"))
        return cls(endpoint_url, verify, digest.hexdigest())

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``boto3.session.Session().client("s3", ...)``."""
        return {
            "endpoint_url": self.endpoint_url,
            "verify": self.verify_tls,
            "config": botocore.config.Config(
                # SigV4 everywhere: SigV2 presigned URLs are refused by newer regions.
                signature_version="s3v4",
                # One client serves a whole server thread pool (botocore's default is 10).
                max_pool_connections=MAX_POOL_CONNECTIONS,
            ),
        }


_MAX_CLIENTS = 32
_clients: dict[S3Settings, Any] = {}
_clients_lock = threading.Lock()
_clients_pid = os.getpid()


def _forget_clients() -> None:
    """Drop every cached client (a forked child must not share its parent's sockets)."""
    global _clients, _clients_lock, _clients_pid
    _clients = {}
    _clients_lock = threading.Lock()  # the parent may have held the old one at fork time
    _clients_pid = os.getpid()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_clients)


def get_s3_client(settings: S3Settings | None = None) -> Any:
    """The process-wide boto3 S3 client for ``settings`` (default: the environment's)."""
    if settings is None:
        settings = S3Settings.from_env()
    if os.getpid() != _clients_pid:  # forked without the at-fork hook
        _forget_clients()
    client = _clients.get(settings)
    if client is not None:
        return client
    with _clients_lock:
        client = _clients.get(settings)
        if client is None:
            # Sessions are not thread-safe (clients are): one fresh session per client.
            client = boto3.session.Session().client("s3", **settings.client_kwargs())
            if len(_clients) >= _MAX_CLIENTS:
                _clients.pop(next(iter(_clients)))
            _clients[settings] = client
    return client


# -- URIs ----------------------------------------------------------------------------


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``(bucket, prefix)`` of ``s3://bucket/prefix``, the prefix clean (no ``//``, no edge ``/``).

    Raises :class:`InvalidParameterValue` for another scheme, a missing or
    malformed bucket, or a prefix that is not a clean relative path.
    """
    shown = redact_uri(uri)
    if uri_scheme(uri) != "s3" or uri[2:5] != "://":
        raise InvalidParameterValue(
            f"Not an S3 artifact URI: {shown!r} (expected s3://bucket/prefix)"
        )
    bucket, _, prefix = uri[5:].partition("/")
    if not bucket:
        raise InvalidParameterValue(f"Invalid S3 artifact URI {shown!r}: no bucket name")
    if "@" in bucket:
        raise InvalidParameterValue(
            f"Invalid S3 artifact URI {shown!r}: credentials do not belong in the URI; "
            "use AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or an AWS profile"
        )
    if not _BUCKET.fullmatch(bucket):
        raise InvalidParameterValue(
            f"Invalid S3 artifact URI {shown!r}: {bucket!r} is not a valid bucket name"
        )
    try:
        clean = normalize_artifact_path(prefix.lstrip("/"))
    except InvalidParameterValue as exc:
        raise InvalidParameterValue(
            f"Invalid S3 artifact URI {shown!r}: bad key prefix ({exc.message})"
        ) from None
    return bucket, clean


# -- reading -------------------------------------------------------------------------


class _ObjectBody(io.RawIOBase):
    """The body of a ``get_object`` response as a raw stream (wrapped in a BufferedReader).

    botocore's StreamingBody is file-like only in part: its ``with`` hands out the
    urllib3 response, iteration yields 1 KiB chunks rather than lines, and
    ``close()`` leaves ``closed`` False. This gives ordinary file semantics,
    ``size`` (the response's Content-Length), read errors as labtrack errors, and
    a ``close()`` that gives the connection slot back to the pool.
    """

    def __init__(self, body: Any, size: int, where: str) -> None:
        super().__init__()
        self._body = body
        self.size = size
        self._where = where

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.closed:
            raise ValueError("I/O operation on closed S3 object stream")
        try:
            if hasattr(self._body, "readinto"):
                return int(self._body.readinto(buffer))
            view = memoryview(buffer).cast("B")  # botocore < 1.31 has no readinto
            data = self._body.read(len(view))
            view[: len(data)] = data
            return len(data)
        except botocore.exceptions.BotoCoreError as exc:
            raise TemporarilyUnavailable(
                f"Reading {self._where} failed mid-stream: {_one_line(exc)}"
            ) from None

    def close(self) -> None:
        if not self.closed:
            try:
                self._body.close()
                # A partly read response has just closed its socket; hand the
                # (now empty) slot back to urllib3's pool rather than leak it.
                release = getattr(getattr(self._body, "_raw_stream", None), "release_conn", None)
                if release is not None:
                    release()
            finally:
                super().close()


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _error_code(exc: Any) -> tuple[str, int]:
    """``(error code, HTTP status)`` of a botocore ClientError."""
    response = getattr(exc, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return code, status


def _is_not_found(exc: BaseException) -> bool:
    if not isinstance(exc, botocore.exceptions.ClientError):
        return False
    code, status = _error_code(exc)
    return code in _NOT_FOUND_CODES or (status == 404 and code not in _NO_BUCKET_CODES)


# -- the repository ------------------------------------------------------------------


class S3ArtifactRepository(ArtifactRepository):
    """Artifacts stored as objects under ``s3://bucket/prefix``.

    Uploads go through boto3's transfer manager (multipart above
    ``transfer_config.multipart_threshold``); downloads stream to a temporary
    file renamed into place; :meth:`open` streams the object's body.
    """

    #: ``MaxKeys`` of each listing request (S3 returns at most 1000).
    list_page_size = 1000
    #: Keys per ``delete_objects`` request (S3 accepts at most 1000).
    delete_batch_size = 1000
    #: boto3 TransferConfig for uploads and downloads; None means boto3's defaults.
    transfer_config: Any = None

    def __init__(self, artifact_uri: str) -> None:
        if _BOTO3_MISSING is not None:
            raise ConfigurationError(
                f"s3:// artifact URIs need boto3, which is not installed ({_BOTO3_MISSING}); "
                "install it with: pip install 'labtrack[s3]'"
            )
        super().__init__(artifact_uri)
        self.bucket, self.prefix = parse_s3_uri(artifact_uri)

    # -- helpers ------------------------------------------------------------

    def _client(self) -> Any:
        return get_s3_client()

    def _key(self, path: str) -> str:
        """Object key of the clean artifact path ``path`` (``""``: the prefix itself)."""
        key = f"{self.prefix}/{path}" if self.prefix and path else self.prefix or path
        try:
            size = len(key.encode("utf-8"))
        except UnicodeEncodeError:
            raise InvalidParameterValue(
                f"Invalid artifact path {path!r}: not encodable as UTF-8"
            ) from None
        if size > MAX_KEY_BYTES:
            raise InvalidParameterValue(
                f"Artifact path {path[:100]!r}... is too long for S3 "
                f"({size} bytes with the prefix; the limit is {MAX_KEY_BYTES})"
            )
        return key

    def _dir_prefix(self, path: str) -> str:
        """Key prefix of the directory ``path``: ``"<key>/"``, or ``""`` for a bucket's root."""
        key = self._key(path)
        return f"{key}/" if key else ""

    def _where(self, path: str) -> str:
        return f"s3://{self.bucket}/{self._key(path)}"

    def _translate(self, exc: BaseException, action: str, path: str) -> BaseException:
        """The labtrack error for a boto3/botocore failure, or ``exc`` if unexpected."""
        # boto3's transfer manager wraps the real failure.
        if isinstance(exc, boto3.exceptions.RetriesExceededError) and exc.last_exception:
            return self._translate(exc.last_exception, action, path)
        if isinstance(exc, boto3.exceptions.S3UploadFailedError):
            cause = exc.__cause__ or exc.__context__
            if cause is not None:
                return self._translate(cause, action, path)
        where = self._where(path)
        detail = _one_line(exc)
        b = botocore.exceptions
        if isinstance(exc, b.ClientError):
            code, status = _error_code(exc)
            if code in _NO_BUCKET_CODES:
                return ResourceDoesNotExist(
                    f"S3 bucket {self.bucket!r} does not exist "
                    f"(artifact URI {redact_uri(self.artifact_uri)!r})"
                )
            if _is_not_found(exc):
                return ResourceDoesNotExist(f"Artifact {path!r} does not exist ({where})")
            if code in _DENIED_CODES or status == 403:
                return PermissionDenied(f"S3 refused to {action} {where}: {detail}")
            if code in _BAD_REQUEST_CODES:
                return InvalidParameterValue(f"S3 refused to {action} {where}: {detail}")
            if code in _BUSY_CODES or status >= 500:
                return TemporarilyUnavailable(f"S3 could not {action} {where}: {detail}")
            return InternalError(f"S3 could not {action} {where}: {detail}")
        if isinstance(exc, b.SSLError):
            return TemporarilyUnavailable(
                f"TLS error talking to S3 to {action} {where}: {detail} "
                f"(set {IGNORE_TLS_ENV[0]}=true to skip certificate checks)"
            )
        if isinstance(exc, (b.ConnectionError, b.HTTPClientError)):
            return TemporarilyUnavailable(f"Cannot reach S3 to {action} {where}: {detail}")
        if isinstance(exc, (b.NoCredentialsError, b.PartialCredentialsError)):
            return ConfigurationError(
                f"No usable AWS credentials to {action} {where}: {detail} (set "
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or another source "
                "of boto3's credential chain)"
            )
        if isinstance(
            exc,
            (
                b.ProfileNotFound,
                b.NoRegionError,
                b.CredentialRetrievalError,
                b.ConfigParseError,
                b.InvalidConfigError,
            ),
        ):
            return ConfigurationError(f"AWS configuration problem to {action} {where}: {detail}")
        if isinstance(exc, b.ParamValidationError):
            return InvalidParameterValue(f"Cannot {action} {where}: {detail}")
        if isinstance(exc, b.BotoCoreError):
            return InternalError(f"S3 could not {action} {where}: {detail}")
        return exc

    @contextmanager
    def _s3(self, action: str, path: str) -> Iterator[None]:
        """Run S3 calls, turning boto3/botocore failures into labtrack errors."""
        try:
            yield
        except LabtrackError:
            raise
        except Exception as exc:
            mapped = self._translate(exc, action, path)
            if mapped is exc:
                raise
            if isinstance(mapped, InternalError):
                raise mapped from exc  # unexpected: keep the botocore details
            raise mapped from None

    def _prefix_exists(self, prefix: str) -> bool:
        """True if at least one key starts with ``prefix`` (raises for a missing bucket)."""
        response = self._client().list_objects_v2(Bucket=self.bucket, Prefix=prefix, MaxKeys=1)
        return bool(response.get("KeyCount") or response.get("Contents"))

    def _head(self, key: str) -> int | None:
        """Size of the object ``key``, or None if there is none."""
        try:
            response = self._client().head_object(Bucket=self.bucket, Key=key)
        except botocore.exceptions.ClientError as exc:
            if _is_not_found(exc):
                return None
            raise
        return int(response["ContentLength"])

    @staticmethod
    def _extra_args(path: str) -> dict[str, str]:
        content_type, _ = mimetypes.guess_type(path)
        return {"ContentType": content_type} if content_type else {}

    # -- primitives ---------------------------------------------------------

    def _stat(self, path: str) -> FileInfo | None:
        key = self._key(path)
        with self._s3("read", path):
            size = self._head(key)
            if size is not None:
                return FileInfo(path=path, is_dir=False, file_size=size)
            if self._prefix_exists(f"{key}/"):
                return FileInfo(path=path, is_dir=True, file_size=None)
        return None

    def _list_dir(self, path: str) -> list[FileInfo]:
        prefix = self._dir_prefix(path)
        files: dict[str, FileInfo] = {}
        dirs: dict[str, FileInfo] = {}
        with self._s3("list", path):
            paginator = self._client().get_paginator("list_objects_v2")
            pages = paginator.paginate(
                Bucket=self.bucket,
                Prefix=prefix,
                Delimiter="/",
                PaginationConfig={"PageSize": self.list_page_size},
            )
            for page in pages:
                for common in page.get("CommonPrefixes", ()):
                    name = common["Prefix"][len(prefix) :].rstrip("/")
                    if name:  # "" is a "dir//" prefix, unreachable by clean paths
                        child = f"{path}/{name}" if path else name
                        dirs[child] = FileInfo(path=child, is_dir=True, file_size=None)
                for obj in page.get("Contents", ()):
                    name = obj["Key"][len(prefix) :]
                    if name:  # "" is the directory's own marker object ("dir/")
                        child = f"{path}/{name}" if path else name
                        files[child] = FileInfo(path=child, is_dir=False, file_size=obj["Size"])
        shadowed = dirs.keys() & files.keys()
        if shadowed:
            _log.info(
                "S3 objects shadow directories of the same name under %s: %s",
                self._where(path),
                sorted(shadowed)[:10],
            )
        return [*files.values(), *(d for name, d in dirs.items() if name not in files)]

    def _open_read(self, path: str) -> BinaryIO:
        key = self._key(path)
        with self._s3("read", path):
            try:
                response = self._client().get_object(Bucket=self.bucket, Key=key)
            except botocore.exceptions.ClientError as exc:
                if _is_not_found(exc) and self._prefix_exists(f"{key}/"):
                    raise InvalidParameterValue(
                        f"Artifact {path!r} is a directory, not a file"
                    ) from None
                raise
        raw = _ObjectBody(response["Body"], int(response["ContentLength"]), self._where(path))
        return io.BufferedReader(raw, buffer_size=256 * 1024)

    def open_sized(self, artifact_path: str) -> tuple[BinaryIO, int]:
        """Open ``artifact_path``; the size is the Content-Length of that very response."""
        stream = self.open(artifact_path)
        raw = getattr(stream, "raw", None)
        if isinstance(raw, _ObjectBody):
            return stream, raw.size
        stream.close()  # pragma: no cover - _open_read always gives an _ObjectBody
        return super().open_sized(artifact_path)  # pragma: no cover

    def _get_file(self, path: str, local_file: str) -> None:
        # download_file writes a temporary file beside local_file and renames it
        # into place (removed on failure); big objects come in parallel ranges.
        with self._s3("download", path):
            self._client().download_file(
                self.bucket, self._key(path), local_file, Config=self.transfer_config
            )

    def _put_file(self, local_file: str, path: str) -> None:
        with self._s3("upload", path):
            self._client().upload_file(
                local_file,
                self.bucket,
                self._key(path),
                ExtraArgs=self._extra_args(path) or None,
                Config=self.transfer_config,
            )

    def _put_bytes(self, data: bytes, path: str) -> None:
        with self._s3("upload", path):
            self._client().put_object(
                Bucket=self.bucket, Key=self._key(path), Body=data, **self._extra_args(path)
            )

    def _delete(self, path: str) -> None:
        prefix = self._dir_prefix(path)
        batch = [self._key(path)] if path else []
        with self._s3("delete", path):
            client = self._client()
            start_after = ""
            while True:
                # Each page starts after the last key seen rather than from a
                # continuation token, so deleting as we go cannot skip keys.
                response = client.list_objects_v2(
                    Bucket=self.bucket,
                    Prefix=prefix,
                    MaxKeys=self.list_page_size,
                    **({"StartAfter": start_after} if start_after else {}),
                )
                contents = response.get("Contents", [])
                for obj in contents:
                    batch.append(obj["Key"])
                    if len(batch) >= self.delete_batch_size:
                        self._delete_keys(batch, path)
                        batch = []
                if not contents or not response.get("IsTruncated"):
                    break
                start_after = contents[-1]["Key"]
            if batch:
                self._delete_keys(batch, path)

    def _delete_keys(self, keys: list[str], path: str) -> None:
        response = self._client().delete_objects(
            Bucket=self.bucket,
            Delete={"Objects": [{"Key": key} for key in keys], "Quiet": True},
        )
        errors = response.get("Errors") or []
        if errors:
            first = errors[0]
            fake = botocore.exceptions.ClientError(
                {"Error": {"Code": first.get("Code", ""), "Message": first.get("Message", "")}},
                "DeleteObjects",
            )
            mapped = self._translate(fake, "delete", path)
            message = getattr(mapped, "message", str(mapped))
            raise type(mapped)(
                f"{message} ({len(errors)} of {len(keys)} objects not deleted, "
                f"first: {first.get('Key')!r})"
            )

    # -- presigned URLs -----------------------------------------------------

    def _presign(self, method: str, artifact_path: str, expires_in: int) -> str:
        path = normalize_artifact_path(artifact_path)
        if path == "":
            raise InvalidParameterValue("A presigned URL needs a file path, not the artifact root")
        if (
            isinstance(expires_in, bool)
            or not isinstance(expires_in, int)
            or not 0 < expires_in <= MAX_PRESIGN_SECONDS
        ):
            raise InvalidParameterValue(
                f"expires_in must be a whole number of seconds in 1..{MAX_PRESIGN_SECONDS}, "
                f"got {expires_in!r}"
            )
        key = self._key(path)
        with self._s3("sign a URL for", path):
            return str(
                self._client().generate_presigned_url(
                    method,
                    Params={"Bucket": self.bucket, "Key": key},
                    ExpiresIn=expires_in,
                )
            )

    def presigned_download_url(self, artifact_path: str, expires_in: int = 3600) -> str:
        """A URL anyone can ``GET`` the file ``artifact_path`` from, for ``expires_in`` seconds.

        Signed locally (no request is made); the file need not exist yet.
        """
        return self._presign("get_object", artifact_path, expires_in)

    def presigned_upload_url(self, artifact_path: str, expires_in: int = 3600) -> str:
        """A URL anyone can ``PUT`` the file ``artifact_path`` to, for ``expires_in`` seconds.

        The upload is a single PUT of the whole body (S3 caps that at 5 GiB).
        """
        return self._presign("put_object", artifact_path, expires_in)
