"""Atomic file writes (a reader, or a run resumed after a kill, sees the old file or the new one,
never half of one) and file hashes."""
import contextlib
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator, Optional, Union


@contextlib.contextmanager
def atomic_path(path: Union[str, Path], suffix: str = '.tmp', mode: int = 0o644) -> Iterator[str]:
    """Yield a temporary path beside `path`; on success it is fsync'ed and renamed over `path`.

    The temp file lives in the destination directory so that os.replace is a rename on one file
    system. mkstemp creates files readable by the owner only; `mode` makes installed or shared
    caches usable by others.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f'.{path.name}.', suffix=suffix, dir=str(path.parent))
    os.close(fd)
    try:
        yield tmp
        with open(tmp, 'rb+') as f:
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def resolve_relative(base: Union[str, Path], value: str) -> str:
    """`value` as an absolute path, read relative to `base` when it is relative ('' stays '').

    Config files use it so that their paths mean the same from any working directory.
    """
    if not value or os.path.isabs(os.path.expanduser(value)):
        return value
    return os.path.abspath(os.path.join(str(base), value))


def write_json(path: Union[str, Path], obj: Any, indent: Optional[int] = 2, sort_keys: bool = False) -> Path:
    """Write `obj` as JSON through atomic_path (a report is whole or absent), with a final newline.

    Values JSON does not know (paths, numpy scalars) are written as their str().
    """
    path = Path(path)
    with atomic_path(path, suffix='.json') as tmp:
        Path(tmp).write_text(json.dumps(obj, indent=indent, sort_keys=sort_keys, default=str) + '\n')
    return path


def file_sha256(path: Union[str, Path], chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks (model files are large)."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(chunk), b''):
            digest.update(block)
    return digest.hexdigest()


def emit_json(obj: Any, path: Union[str, Path, None] = None) -> None:
    """A measurement's report: printed for the terminal, and written to `path` when one is given."""
    print(json.dumps(obj, indent=2, default=str))
    if path:
        write_json(path, obj)
