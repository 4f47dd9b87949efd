"""Turning figures, images and tables into artifact bytes. Each library is imported on use."""

from __future__ import annotations

import io
import json
import math
import posixpath
from typing import Any

from labtrack.errors import InvalidParameterValue


def _extension(artifact_file: str) -> str:
    ext = posixpath.splitext(artifact_file)[1].lower().lstrip(".")
    if not ext:
        raise InvalidParameterValue(
            f"Artifact file {artifact_file!r} needs an extension that names its format"
        )
    return ext


def figure_bytes(figure: Any, artifact_file: str) -> bytes:
    """A matplotlib Figure or a plotly Figure, saved in the format of the file extension."""
    ext = _extension(artifact_file)
    module = type(figure).__module__
    if module.startswith("matplotlib"):
        buffer = io.BytesIO()
        figure.savefig(buffer, format=ext)
        return buffer.getvalue()
    if module.startswith("plotly"):
        if ext == "html":
            return str(figure.to_html(include_plotlyjs="cdn")).encode("utf-8")
        if ext == "json":
            return str(figure.to_json()).encode("utf-8")
        try:
            return bytes(figure.to_image(format=ext))
        except (ValueError, ImportError) as exc:
            raise InvalidParameterValue(
                f"Cannot save a plotly figure as .{ext}: {exc}. Use .html or .json, or install "
                "kaleido for image formats."
            ) from None
    raise InvalidParameterValue(
        f"Unsupported figure type {type(figure).__qualname__}: expected a matplotlib or plotly "
        "figure"
    )


def image_bytes(image: Any, artifact_file: str) -> bytes:
    """A PIL image, or a NumPy array (HxW, HxWx1/3/4; uint8, or floats in [0, 1])."""
    ext = _extension(artifact_file)
    try:
        from PIL import Image
    except ImportError:
        raise InvalidParameterValue("log_image needs Pillow: pip install Pillow") from None
    if not isinstance(image, Image.Image):
        image = Image.fromarray(_as_uint8_array(image))
    buffer = io.BytesIO()
    fmt = {"jpg": "JPEG", "jpeg": "JPEG", "png": "PNG", "gif": "GIF", "bmp": "BMP"}.get(ext)
    if fmt is None:
        raise InvalidParameterValue(f"Unsupported image format .{ext}: use .png or .jpg")
    if fmt == "JPEG" and image.mode in ("RGBA", "LA", "P"):
        image = image.convert("RGB")
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def _as_uint8_array(image: Any) -> Any:
    import numpy as np

    array = np.asarray(image)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise InvalidParameterValue(
            f"Unsupported image shape {array.shape}: expected HxW, HxWx1, HxWx3 or HxWx4"
        )
    if array.dtype == np.uint8:
        return array
    if np.issubdtype(array.dtype, np.floating):
        if array.size and (np.nanmin(array) < 0 or np.nanmax(array) > 1):
            raise InvalidParameterValue(
                "Float images must have values in [0, 1]; scale them or pass uint8"
            )
        return (np.nan_to_num(array) * 255).round().astype(np.uint8)
    if np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_:
        if array.size and (array.min() < 0 or array.max() > 255):
            raise InvalidParameterValue("Integer images must have values in [0, 255]")
        return array.astype(np.uint8)
    raise InvalidParameterValue(f"Unsupported image dtype {array.dtype}")


def table_json(data: Any) -> str:
    """MLflow's table format: {"columns": [...], "data": [[row], ...]}."""
    if hasattr(data, "to_dict") and hasattr(data, "columns"):
        columns = [str(c) for c in data.columns]
        rows = data.astype(object).where(data.notna(), None).values.tolist()
    elif isinstance(data, dict):
        columns = [str(c) for c in data]
        values = [list(v) if not isinstance(v, str) else [v] for v in data.values()]
        lengths = {len(v) for v in values}
        if len(lengths) > 1:
            raise InvalidParameterValue(f"Table columns have different lengths: {sorted(lengths)}")
        rows = [list(r) for r in zip(*values, strict=True)] if values else []
    else:
        raise InvalidParameterValue(
            f"Unsupported table type {type(data).__qualname__}: pass a dict of columns or a "
            "pandas DataFrame"
        )
    return json.dumps({"columns": columns, "data": rows}, default=_json_default)


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # NumPy scalars
        return value.item()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, float) and math.isnan(value):
        return None
    return str(value)
