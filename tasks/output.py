"""The output folder `<out>/<incident-id>/`: the one atomic writer every stage uses, and the one
reader of the stage outputs written there."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from pydantic import BaseModel, ValidationError

from tasks.errors import ObjectError

if TYPE_CHECKING:
    import pyarrow.parquet as pq

M = TypeVar("M", bound=BaseModel)


def incident_dir(out_root: Path, incident_id: str) -> Path:
    path = Path(out_root) / incident_id
    path.mkdir(parents=True, exist_ok=True)
    return path


def sibling_temp(path: Path) -> Path:
    """A new, uniquely named file beside `path`, for writing before an atomic `os.replace`.

    Unique, so two runs writing one incident never clobber each other's half-written file; in the
    same folder, so the final `os.replace` is a rename within one file system.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    # Created with 0o666 less the umask, as any other file: mkstemp's 0o600 would make every
    # draft and published copy unreadable to the rest of a team sharing the folder.
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    return tmp


def write_atomic(path: Path, data: str | bytes) -> Path:
    """Write a file so that readers see the old content or the new, never half of either."""
    path = Path(path)
    tmp = sibling_temp(path)
    try:
        tmp.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_model_json(model: BaseModel, path: Path) -> Path:
    """Write a stage output as indented JSON, atomically."""
    return write_atomic(path, model.model_dump_json(indent=2))


def read_model_json(model: type[M], path: Path) -> M | None:
    """A stage output written by `write_model_json`, or None when the file is absent (that stage
    did not run); a file that cannot be read or is not a valid `model` is an ObjectError naming
    the file and the first field at fault."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ObjectError(f"{path}: cannot read it ({reason}).") from exc
    try:
        return model.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "file"
        raise ObjectError(
            f"{path}: not a valid {model.__name__} ({where}: {first['msg']})."
        ) from None


def open_frame_file(path: Path | str, **options: object) -> pq.ParquetFile:
    """Gather's Parquet file, for reads a batch or a row group at a time.

    Without `pre_buffer=False` the reader caches each row group's column chunks whole and keeps
    the last ones for as long as the file is open: for a row group of long `attrs` that is tens
    of megabytes held through the whole stage, and reading page by page is no slower.
    """
    import pyarrow.parquet as pq  # here: most users of this module never read Parquet

    return pq.ParquetFile(path, pre_buffer=False, **options)
