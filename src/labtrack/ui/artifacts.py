"""A run's artifacts: browse the tree and preview files.

``GET /runs/{run_id}/artifacts?path=<dir or file>`` lists a directory or previews a
file: images, text, JSON/YAML (pretty-printed), CSV/TSV (as a table), HTML (in a
sandboxed iframe) and models (a directory with an ``MLmodel`` file: flavors,
signature, and a form to register a version). ``GET /runs/{run_id}/artifacts/raw?path=``
sends a file's bytes with ``nosniff`` and a sandboxing Content-Security-Policy, so an
uploaded HTML or SVG file never runs as this site.
"""

from __future__ import annotations

import csv
import io
import json
import posixpath
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from labtrack.entities import Run
from labtrack.errors import InvalidParameterValue, LabtrackError, ResourceDoesNotExist
from labtrack.server._routes import Route
from labtrack.ui import _args
from labtrack.ui._render import render, url

if TYPE_CHECKING:
    from labtrack.artifacts.base import ArtifactRepository
    from labtrack.server._context import ServerContext

PREVIEW_BYTES = 512 * 1024
CSV_ROWS = 500
IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".bmp": "image/bmp",
    ".svg": "image/svg+xml",
}
TEXT_EXTENSIONS = {
    ".txt",
    ".log",
    ".md",
    ".py",
    ".sh",
    ".cfg",
    ".ini",
    ".toml",
    ".rst",
    ".r",
    ".sql",
    ".xml",
    ".diff",
    ".patch",
}
TEXT_NAMES = {"MLmodel", "requirements.txt", "Dockerfile", "LICENSE"}
# A file served raw is only ever one of these types; the rest is sent as a download.
RAW_INLINE = {**IMAGE_TYPES, ".html": "text/html", ".htm": "text/html"}
RAW_CSP = (
    "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'; frame-ancestors 'self'"
)


def _repository(ctx: ServerContext, run: Run) -> ArtifactRepository:
    return ctx.repository_for(run.info.artifact_uri)


@dataclass(frozen=True)
class FileTree:
    """A tree of files the browser shows: a run's artifacts, or a logged model's files."""

    repo: ArtifactRepository
    base_url: str
    """The page of the tree (``/runs/<id>/artifacts``); ``<base_url>/raw`` sends a file."""
    root_name: str
    """The first breadcrumb ("artifacts", "files")."""
    run_id: str
    """The run that logged the files, for the model summary's ``runs:/`` URI ("" if none)."""


def run_tree(ctx: ServerContext, run: Run) -> FileTree:
    """A run's artifacts as a tree of files."""
    run_id = run.info.run_id
    return FileTree(_repository(ctx, run), f"/runs/{run_id}/artifacts", "artifacts", run_id)


def kind_of(path: str) -> str:
    name = posixpath.basename(path)
    ext = posixpath.splitext(name)[1].lower()
    if ext in IMAGE_TYPES:
        return "image"
    if ext in (".html", ".htm"):
        return "html"
    if ext == ".json":
        return "json"
    if ext in (".yaml", ".yml") or name == "MLmodel":
        return "yaml"
    if ext in (".csv", ".tsv"):
        return "csv"
    if ext in TEXT_EXTENSIONS or name in TEXT_NAMES:
        return "text"
    return "other"


def listing_model(ctx: ServerContext, run: Run, path: str) -> dict[str, Any]:
    """One directory of a run's artifacts, and the model in it if there is one."""
    return tree_listing(run_tree(ctx, run), path)


def tree_listing(tree: FileTree, path: str) -> dict[str, Any]:
    """One directory of a tree of files, and the model in it if there is one."""
    repo = tree.repo
    try:
        entries = repo.list_artifacts(path or None)
    except LabtrackError as exc:
        return {
            "path": path,
            "entries": [],
            "error": exc.message,
            "model": None,
            "model_dirs": [],
            "crumbs": _crumbs(tree, path),
            "base_url": tree.base_url,
        }
    items: list[dict[str, Any]] = []
    for e in entries:
        items.append(
            {
                "path": e.path,
                "name": posixpath.basename(e.path),
                "is_dir": e.is_dir,
                "size": e.file_size,
                "kind": "dir" if e.is_dir else kind_of(e.path),
                "url": url(tree.base_url, path=e.path),
            }
        )
    items.sort(key=lambda i: (not i["is_dir"], i["name"]))
    model = None
    if any(i["name"] == "MLmodel" and not i["is_dir"] for i in items):
        model = model_summary(repo, path, tree.run_id)
    models_here = [i["path"] for i in items if i["is_dir"] and _has_mlmodel(repo, i["path"])][:20]
    return {
        "path": path,
        "entries": items,
        "error": None,
        "model": model,
        "model_dirs": models_here,
        "crumbs": _crumbs(tree, path),
        "base_url": tree.base_url,
    }


def _has_mlmodel(repo: ArtifactRepository, path: str) -> bool:
    try:
        info = repo.get_file_info(f"{path}/MLmodel")
    except LabtrackError:
        return False
    return not info.is_dir


def _crumbs(tree: FileTree, path: str) -> list[dict[str, str]]:
    crumbs = [{"name": tree.root_name, "url": url(tree.base_url)}]
    parts = [p for p in path.split("/") if p]
    for i, part in enumerate(parts):
        crumbs.append({"name": part, "url": url(tree.base_url, path="/".join(parts[: i + 1]))})
    return crumbs


def _read_head(
    repo: ArtifactRepository, path: str, limit: int = PREVIEW_BYTES
) -> tuple[bytes, bool]:
    with repo.open(path) as stream:
        data = stream.read(limit + 1)
    return data[:limit], len(data) > limit


def model_summary(repo: ArtifactRepository, directory: str, run_id: str) -> dict[str, Any]:
    """What an MLmodel file says: flavors, signature, input example, when it was made."""
    import yaml

    base: dict[str, Any] = {
        "kind": "artifacts",
        "path": directory,
        "form_id": f"register-{directory or 'root'}",
        "source_uri": f"runs:/{run_id}/{directory}" if directory else f"runs:/{run_id}",
        "deleted": False,
        "error": None,
    }
    path = f"{directory}/MLmodel" if directory else "MLmodel"
    try:
        raw, _ = _read_head(repo, path)
        spec = yaml.safe_load(raw.decode("utf-8")) or {}
    except (LabtrackError, OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        message = exc.message if isinstance(exc, LabtrackError) else str(exc)
        return {**base, "error": f"Cannot read MLmodel: {message}"}
    if not isinstance(spec, dict):
        return {**base, "error": "MLmodel is not a mapping"}
    flavors = spec.get("flavors")
    flavors = flavors if isinstance(flavors, dict) else {}
    pyfunc = flavors.get("python_function")
    signature = spec.get("signature")
    signature = signature if isinstance(signature, dict) else {}
    return {
        **base,
        "flavors": sorted(flavors),
        "loader_module": pyfunc.get("loader_module") if isinstance(pyfunc, dict) else None,
        "created": str(spec.get("utc_time_created", "")),
        "model_uuid": str(spec.get("model_uuid", "")),
        "inputs": _schema(signature.get("inputs")),
        "outputs": _schema(signature.get("outputs")),
        "params": _schema(signature.get("params")),
        "input_example": bool(spec.get("saved_input_example_info")),
    }


def _schema(text: Any) -> list[dict[str, str]]:
    """Columns of a signature part (MLflow stores each as a JSON string)."""
    if not text:
        return []
    try:
        items = json.loads(text) if isinstance(text, str) else text
    except ValueError:
        return [{"name": "?", "type": str(text)[:200]}]
    out = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict):
            kind = item.get("type", "")
            if kind == "tensor":
                tensor = item.get("tensor-spec", {})
                kind = f"tensor {tensor.get('dtype', '')} {tensor.get('shape', '')}"
            out.append({"name": str(item.get("name", "")), "type": str(kind)})
    return out


def preview_model(ctx: ServerContext, run: Run, path: str) -> dict[str, Any]:
    """A preview of one of a run's artifact files."""
    return tree_preview(run_tree(ctx, run), path)


def tree_preview(tree: FileTree, path: str) -> dict[str, Any]:
    """A preview of one file of a tree: its text, table or image, and where to download it."""
    repo = tree.repo
    info = repo.get_file_info(path)
    base: dict[str, Any] = {
        "path": path,
        "name": posixpath.basename(path),
        "size": info.file_size,
        "kind": kind_of(path),
        "raw_url": url(f"{tree.base_url}/raw", path=path),
        "download_url": url(f"{tree.base_url}/raw", path=path, download=1),
        "crumbs": _crumbs(tree, path),
        "truncated": False,
        "text": None,
        "table": None,
    }
    kind = base["kind"]
    if kind in ("image", "html"):
        return base
    data, truncated = _read_head(repo, path)
    base["truncated"] = truncated
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        if truncated:  # cut in the middle of a character
            text = data.decode("utf-8", errors="ignore")
        else:
            return {**base, "kind": "binary"}
    if kind == "json" and not truncated:
        try:
            text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except ValueError:
            pass
    if kind == "csv":
        delimiter = "\t" if path.lower().endswith(".tsv") else ","
        try:
            rows = list(_csv_rows(text, delimiter))
        except csv.Error:  # a field over the csv module's limit, a NUL byte: show the text
            rows = None
        if rows is not None:
            base["table"] = {"header": rows[0] if rows else [], "rows": rows[1 : CSV_ROWS + 1]}
            base["truncated"] = truncated or len(rows) > CSV_ROWS + 1
            return base
        kind = "text"
    if kind == "other" and "\x00" in text:
        return {**base, "kind": "binary"}
    base["text"] = text
    base["kind"] = "text" if kind == "other" else kind
    return base


def _csv_rows(text: str, delimiter: str) -> Any:
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    for i, row in enumerate(reader):
        if i > CSV_ROWS:
            break
        yield row


def routes(ctx: ServerContext) -> list[Route]:
    """A run's artifact browser and the raw files it previews."""

    def artifacts(run_id: str, request: Request) -> Response:
        run = ctx.service.get_run(run_id)
        path = _clean(_args.text(request, "path"))
        repo = _repository(ctx, run)
        is_dir = path == "" or repo.get_file_info(path).is_dir
        model: dict[str, Any] = {
            "run": {"run_id": run_id, "name": run.info.run_name, "url": f"/runs/{run_id}"},
            "is_dir": is_dir,
        }
        if is_dir:
            from labtrack.ui.run_models import registered_names

            model["listing"] = listing_model(ctx, run, path)
            model["preview"] = None
            model["registered_names"] = registered_names(ctx) if model["listing"]["model"] else []
        else:
            model["listing"] = None
            model["preview"] = preview_model(ctx, run, path)
        title = f"{path or 'Artifacts'} of {run.info.run_name}"
        return render(request, "artifacts.html", model, title=title)

    def raw(run_id: str, request: Request) -> Response:
        run = ctx.service.get_run(run_id)
        return raw_file(_repository(ctx, run), request)

    return [
        Route("/runs/{run_id}/artifacts", ("GET",), artifacts, heavy=True),
        Route("/runs/{run_id}/artifacts/raw", ("GET",), raw),
    ]


def raw_file(repo: ArtifactRepository, request: Request) -> Response:
    """The bytes of the file ``?path=`` of ``repo``, sandboxed (``?download=1``: as a download)."""
    from starlette.responses import StreamingResponse

    path = clean_path(_args.text(request, "path"))
    if not path:
        raise InvalidParameterValue("Name an artifact file (?path=...)")
    stream, size = repo.open_sized(path)
    ext = posixpath.splitext(path)[1].lower()
    download = request.query_params.get("download") == "1"
    inline_type = RAW_INLINE.get(ext)
    kind = kind_of(path)
    if inline_type is None and kind in ("text", "json", "yaml", "csv"):
        inline_type = "text/plain; charset=utf-8"
    media_type = inline_type if inline_type and not download else "application/octet-stream"
    name = posixpath.basename(path).replace('"', "")
    disposition = "attachment" if download or inline_type is None else "inline"
    headers = {
        "Content-Length": str(size),
        "Content-Disposition": f"{disposition}; filename*=UTF-8''{_quote(name)}",
        "Content-Security-Policy": RAW_CSP,
        "X-Frame-Options": "SAMEORIGIN",
        "Cache-Control": "private, no-cache",
    }

    def chunks() -> Any:
        with stream:
            while True:
                block = stream.read(256 * 1024)
                if not block:
                    break
                yield block

    return StreamingResponse(chunks(), media_type=media_type, headers=headers)


def clean_path(path: str) -> str:
    """A requested path inside a tree, normalised (an escape from the tree is not found)."""
    return _clean(path)


def _clean(path: str) -> str:
    from labtrack.artifacts import normalize_artifact_path

    try:
        return normalize_artifact_path(path)
    except InvalidParameterValue:
        raise
    except LabtrackError as exc:
        raise ResourceDoesNotExist(exc.message) from exc


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")
