"""Multipart uploads: the fields of MLflow's ``mpu/*`` requests, and the staging area of a
local destination (``<destination>/.labtrack-tmp-server/``; see ``artifacts_api``)."""

from __future__ import annotations

import errno
import json
import os
import re
import secrets
import shutil
import stat
import threading
import time
from dataclasses import dataclass
from typing import Any, BinaryIO

from labtrack.artifacts._atomic import TEMP_PREFIX, create_temp_file
from labtrack.artifacts._paths import _shown
from labtrack.artifacts.local import LocalArtifactRepository
from labtrack.errors import InternalError, InvalidParameterValue, ResourceDoesNotExist
from labtrack.server._artifact_files import (
    CHUNK_BYTES,
    stat_or_none,
    unlink_quietly,
    write_atomically,
)

#: Where a local destination stages uploads; hidden from listings by its prefix.
STAGING_DIR = f"{TEMP_PREFIX}server"
#: S3's bounds on a multipart upload, which MLflow's client follows.
MAX_PARTS = 10_000
#: Multipart uploads untouched for this long are removed from the staging area.
STALE_UPLOAD_SECONDS = 2 * 24 * 3600
_SWEEP_EVERY_SECONDS = 3600

_UPLOAD_ID = re.compile(r"[0-9a-f]{32}")
_ETAG = re.compile(r'(?:W/)?"?([0-9a-f]{32})"?')


# -- the request fields -------------------------------------------------------------------------
@dataclass(frozen=True)
class Part:
    number: int
    etag: str


def _missing(name: str) -> InvalidParameterValue:
    return InvalidParameterValue(
        f"Missing value for required parameter '{name}'. "
        "See the API docs for more information about request parameters."
    )


def _invalid(name: str, value: Any, expected: str) -> InvalidParameterValue:
    return InvalidParameterValue(
        f"Invalid value {_shown(repr(value))} for parameter '{name}' supplied: "
        f"expected {expected}. See the API docs for more information about request parameters."
    )


def int_field(data: dict[str, Any], name: str, low: int, high: int) -> int | None:
    """An integer field; protobuf JSON writers may send it as a digit string."""
    value = data.get(name)
    if value is None:
        return None
    number = int(value) if isinstance(value, str) and value.isascii() and value.isdigit() else value
    if not isinstance(number, int) or isinstance(number, bool) or not low <= number <= high:
        raise _invalid(name, value, f"an integer in {low}..{high}")
    return number


def str_field(data: dict[str, Any], name: str) -> str:
    """A required, non-empty string field."""
    value = data.get(name)
    if value is None or value == "":
        raise _missing(name)
    if not isinstance(value, str):
        raise _invalid(name, value, "a string")
    return value


def parts_field(data: dict[str, Any]) -> list[Part]:
    value = data.get("parts")
    if value is None:
        raise _missing("parts")
    if not isinstance(value, list) or len(value) > MAX_PARTS:
        raise _invalid("parts", value, f"a list of at most {MAX_PARTS} parts")
    parts = []
    for item in value:
        if not isinstance(item, dict):
            raise _invalid("parts", item, "an object with 'part_number' and 'etag'")
        number = int_field(item, "part_number", 1, MAX_PARTS)
        etag = item.get("etag")
        if number is None:
            raise _missing("parts.part_number")
        if etag is not None and not isinstance(etag, str):
            raise _invalid("parts.etag", etag, "a string")
        parts.append(Part(number, etag or ""))
    return parts


def base_name(local_file: str) -> str:
    """The artifact name of the client's local file ``local_file`` (a POSIX or Windows path)."""
    name = re.split(r"[/\\]", local_file.rstrip("/\\"))[-1]
    if name in ("", ".", ".."):
        raise InvalidParameterValue(
            f"Invalid value {_shown(local_file)} for parameter 'path': expected the path of a "
            "local file, whose base name becomes the artifact's name"
        )
    return name


# -- the staging area of a local destination ----------------------------------------------------
class LocalStaging:
    """Uploads in progress for a local destination, under ``<root>/.labtrack-tmp-server``."""

    def __init__(self, repo: LocalArtifactRepository) -> None:
        self.repo = repo
        self._last_sweep = 0.0
        self._sweep_lock = threading.Lock()

    def directory(self) -> str:
        """The staging directory, created if needed and checked to be a real directory inside."""
        root = os.path.realpath(self.repo.root)
        os.makedirs(root, exist_ok=True)
        staging = os.path.join(root, STAGING_DIR)
        try:
            os.mkdir(staging)
        except FileExistsError:
            pass
        if not stat.S_ISDIR(os.lstat(staging).st_mode):
            raise InternalError(
                f"The server's staging area {STAGING_DIR!r} in the artifact destination is not "
                "a directory (a symlink?); an administrator must remove it"
            )
        self._maybe_sweep(staging)
        return staging

    def _maybe_sweep(self, staging: str) -> None:
        now = time.time()
        if now - self._last_sweep < _SWEEP_EVERY_SECONDS or not self._sweep_lock.acquire(False):
            return
        try:
            self._last_sweep = now
            for entry in os.scandir(staging):
                if not entry.name.startswith(("mpu-", "gone-", "put-")):
                    continue
                try:
                    if now - _newest_mtime(entry) > STALE_UPLOAD_SECONDS:
                        _remove_entry(entry.path)
                except OSError:  # removed meanwhile by its own upload: fine
                    continue
        finally:
            self._sweep_lock.release()

    # -- whole-file uploads

    def new_upload_file(self) -> tuple[str, BinaryIO]:
        return create_temp_file(self.directory(), "put-")

    def commit(self, temp: str, path: str) -> None:
        """Move the complete upload ``temp`` to the artifact ``path`` in one step."""
        target = self.repo._prepare_write(path)
        try:
            os.replace(temp, target)
        except OSError as exc:
            if exc.errno != errno.EXDEV:  # a mount point inside the destination
                raise
            with open(temp, "rb") as source:
                write_atomically(target, lambda out: shutil.copyfileobj(source, out, CHUNK_BYTES))

    # -- multipart uploads

    def _upload_dir(self, upload_id: str) -> str:
        if not _UPLOAD_ID.fullmatch(upload_id):
            raise InvalidParameterValue(f"Invalid multipart upload id {_shown(upload_id)}")
        return os.path.join(self.directory(), f"mpu-{upload_id}")

    def _meta(self, upload_id: str) -> tuple[str, dict[str, Any]]:
        directory = self._upload_dir(upload_id)
        try:
            with open(os.path.join(directory, "meta.json"), encoding="utf-8") as f:
                meta = json.load(f)
        except (FileNotFoundError, NotADirectoryError):
            raise ResourceDoesNotExist(
                f"No multipart upload with id {upload_id!r} (completed, aborted or never created)"
            ) from None
        return directory, meta

    def create(self, path: str, num_parts: int) -> str:
        info = stat_or_none(self.repo, path)
        if info is not None and info.is_dir:
            raise InvalidParameterValue(
                f"Cannot upload to {_shown(path)}: a directory of that name exists"
            )
        upload_id = secrets.token_hex(16)
        directory = self._upload_dir(upload_id)
        os.mkdir(directory)
        meta = {"path": path, "num_parts": num_parts, "created": time.time()}
        write_atomically(
            os.path.join(directory, "meta.json"),
            lambda out: out.write(json.dumps(meta).encode("utf-8")),
        )
        return upload_id

    def new_part_file(self, upload_id: str, part_number: int) -> tuple[str, BinaryIO]:
        directory, meta = self._meta(upload_id)
        if not 1 <= part_number <= int(meta["num_parts"]):
            raise InvalidParameterValue(
                f"Invalid part number {part_number} for multipart upload {upload_id!r}: "
                f"expected 1..{meta['num_parts']}"
            )
        return create_temp_file(directory, "tmp-")

    def commit_part(self, upload_id: str, part_number: int, temp: str, etag: str) -> None:
        directory = self._upload_dir(upload_id)
        try:
            os.replace(temp, os.path.join(directory, f"part-{part_number:05d}-{etag}"))
        except FileNotFoundError:  # aborted or completed meanwhile
            raise ResourceDoesNotExist(f"Multipart upload {upload_id!r} no longer exists") from None

    def _check_target(self, meta: dict[str, Any], upload_id: str, path: str) -> None:
        if meta.get("path") != path:
            raise InvalidParameterValue(
                f"Multipart upload {upload_id!r} is for artifact {_shown(str(meta.get('path')))}, "
                f"not {_shown(path)}"
            )

    def complete(self, path: str, upload_id: str, parts: list[Part]) -> None:
        directory, meta = self._meta(upload_id)
        self._check_target(meta, upload_id, path)
        expected = int(meta["num_parts"])
        numbers = [p.number for p in parts]
        if numbers != list(range(1, expected + 1)):
            raise InvalidParameterValue(
                f"Multipart upload {upload_id!r} has {expected} parts: 'parts' must list part "
                f"numbers 1..{expected} in order, got {numbers[:20]}"
            )
        names = []
        for part in parts:
            match = _ETAG.fullmatch(part.etag)
            name = f"part-{part.number:05d}-{match.group(1) if match else ''}"
            if match is None or not os.path.isfile(os.path.join(directory, name)):
                raise InvalidParameterValue(
                    f"Part {part.number} of multipart upload {upload_id!r} was not uploaded, "
                    f"or not with ETag {_shown(part.etag)}"
                )
            names.append(name)
        target = self.repo._prepare_write(path)
        claimed = self._claim(directory, upload_id)
        try:

            def fill(out: BinaryIO) -> None:
                for name in names:
                    with open(os.path.join(claimed, name), "rb") as source:
                        shutil.copyfileobj(source, out, CHUNK_BYTES)

            write_atomically(target, fill)
        finally:
            shutil.rmtree(claimed, ignore_errors=True)

    def abort(self, path: str, upload_id: str) -> None:
        try:
            directory, meta = self._meta(upload_id)
        except ResourceDoesNotExist:
            return  # already gone: aborting twice, or after a failed complete, is fine
        self._check_target(meta, upload_id, path)
        try:
            claimed = self._claim(directory, upload_id)
        except ResourceDoesNotExist:
            return
        shutil.rmtree(claimed, ignore_errors=True)

    def _claim(self, directory: str, upload_id: str) -> str:
        """Take the upload away from concurrent parts, completes and aborts (one winner)."""
        claimed = os.path.join(
            os.path.dirname(directory), f"gone-{upload_id}-{secrets.token_hex(4)}"
        )
        try:
            os.rename(directory, claimed)
        except FileNotFoundError:
            raise ResourceDoesNotExist(f"Multipart upload {upload_id!r} no longer exists") from None
        return claimed


def _newest_mtime(entry: os.DirEntry[str]) -> float:
    newest = entry.stat(follow_symlinks=False).st_mtime
    if entry.is_dir(follow_symlinks=False):
        for child in os.scandir(entry.path):
            newest = max(newest, child.stat(follow_symlinks=False).st_mtime)
    return newest


def _remove_entry(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        unlink_quietly(path)
