"""yolo_ros's yolo_msgs (GPL-3.0) built into a private prefix for tests; never part of the project's setup.

The package is built with colcon from its source checkout (../shared/ros/src/yolo_ros/yolo_msgs
or $MIPNET_YOLO_MSGS_SRC) once per source version into a cache folder, and `environment()` gives
the variables a subprocess needs to use it (what sourcing its local_setup.bash sets).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Dict, Optional

REPO = Path(__file__).resolve().parents[2]
DEFAULT_SRC = REPO.parent / 'shared' / 'ros' / 'src' / 'yolo_ros' / 'yolo_msgs'


def source_dir() -> Optional[Path]:
    src = Path(os.environ.get('MIPNET_YOLO_MSGS_SRC') or DEFAULT_SRC)
    return src if (src / 'package.xml').is_file() else None


def _digest(src: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in src.rglob('*') if p.is_file()):
        h.update(str(path.relative_to(src)).encode())
        h.update(path.read_bytes())
    h.update(os.environ.get('VIRTUAL_ENV', '').encode())
    return h.hexdigest()[:16]


def build(cache: Optional[Path] = None) -> Path:
    """The install prefix of yolo_msgs, built now unless this source version was built before."""
    src = source_dir()
    if src is None:
        raise FileNotFoundError('yolo_msgs sources not found (set MIPNET_YOLO_MSGS_SRC)')
    cache = cache or Path(os.environ.get('XDG_CACHE_HOME') or Path.home() / '.cache') / 'mipnet_ros' / 'test-prefixes'
    prefix = cache / f'yolo_msgs-{_digest(src)}'
    if (prefix / 'local_setup.bash').is_file():
        return prefix
    cache.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix='yolo_msgs-', dir=cache))
    try:
        subprocess.run(['colcon', 'build', '--base-paths', str(src), '--build-base', str(work / 'build'),
                        '--install-base', str(work / 'install'), '--merge-install',
                        '--event-handlers', 'console_direct-', 'console_stderr-', 'status-',
                        '--cmake-args', '-DBUILD_TESTING=OFF', '-Wno-dev'],
                       cwd=work, check=True, capture_output=True, timeout=900)
        try:
            os.rename(work / 'install', prefix)     # atomic: a half-built prefix is never seen
        except OSError:
            if not (prefix / 'local_setup.bash').is_file():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return prefix


def environment(prefix: Path, base: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """`base` (default os.environ) as it is after sourcing the prefix's local_setup.bash."""
    out = subprocess.run(['bash', '-c', f'source "{prefix}/local_setup.bash" && env -0'],
                         env=dict(os.environ if base is None else base), check=True, capture_output=True)
    pairs = (item.split('=', 1) for item in out.stdout.decode().split('\0') if '=' in item)
    return dict(pairs)
