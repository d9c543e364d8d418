"""The sha256 of a zoo file that has no published checksum, recorded when it was first fetched.

One `sha256sum`-style line per file in `<cache>/recorded/<file name>.sha256`, apart from the weights
themselves: deleting a downloaded file keeps its record, so a later download that differs is refused.
Deleting the record is how a user accepts a file the publisher replaced on purpose.
"""
import os
from pathlib import Path
from typing import Optional

from mipnet_ros.core.weights.cache import cache_root


def record_path(file_name: str) -> Path:
    return cache_root() / 'recorded' / f'{file_name}.sha256'


def recorded_sha256(file_name: str) -> Optional[str]:
    path = record_path(file_name)
    if not path.is_file():
        return None
    digest = path.read_text().split(maxsplit=1)[0].lower() if path.read_text().strip() else ''
    if len(digest) != 64 or any(c not in '0123456789abcdef' for c in digest):
        raise ValueError(f'{path}: not a sha256 record; delete it to record the next download again')
    return digest


def record_sha256(file_name: str, digest: str) -> Path:
    """Writes the record atomically (a reader never sees half a line)."""
    path = record_path(file_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + '.tmp')
    tmp.write_text(f'{digest}  {file_name}\n')
    os.replace(tmp, path)
    return path
