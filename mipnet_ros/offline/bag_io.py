"""Reading and writing ROS 2 bags with `rosbags` (pure Python: there is no `ros2 bag` here).

Messages move as raw CDR bytes (the replay hands the recorded bytes to rclpy, the recorder writes what
rclpy received), so nothing is converted twice.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Optional, Tuple

EXTRA_PACKAGES = ('vision_msgs', 'mipnet_ros')


def _msg_dirs(package: str) -> List[Path]:
    dirs: List[Path] = []
    try:
        from ament_index_python.packages import get_package_share_directory
        dirs.append(Path(get_package_share_directory(package)) / 'msg')
    except Exception:  # noqa: BLE001 - not installed / no ament index: try the prefixes by hand
        pass
    for prefix in os.environ.get('AMENT_PREFIX_PATH', '').split(os.pathsep):
        if prefix:
            dirs.append(Path(prefix) / 'share' / package / 'msg')
    return [d for d in dirs if d.is_dir()]


@lru_cache(maxsize=1)
def get_typestore():
    """rosbags Typestore with the ROS 2 standard types, vision_msgs and mipnet_ros messages.

    The extra types are read from their installed .msg files (share/<package>/msg): the writer embeds
    these schemas, which makes the output readable by `ros2 bag` and Foxglove.
    """
    from rosbags.typesys import Stores, get_types_from_msg
    from rosbags.typesys import get_typestore as _get
    store = _get(Stores.LATEST)
    types = {}
    for pkg in EXTRA_PACKAGES:
        dirs = _msg_dirs(pkg)
        if not dirs:
            raise FileNotFoundError(f'no .msg files for {pkg}: source the ROS environment (scripts/env.sh)')
        for f in sorted(dirs[0].glob('*.msg')):
            types.update(get_types_from_msg(f.read_text(), f'{pkg}/msg/{f.stem}'))
    store.register(types)
    return store


def bag_topics(path: str) -> Dict[str, str]:
    """topic -> message type of a bag (file or directory)."""
    from rosbags.rosbag2 import Reader
    with Reader(path) as reader:
        return {c.topic: c.msgtype for c in reader.connections}


def read_raw(path: str, topics: Optional[Iterable[str]] = None) -> Iterator[Tuple[str, str, int, bytes]]:
    """(topic, msgtype, log time ns, CDR bytes) in recorded order."""
    from rosbags.rosbag2 import Reader
    wanted = set(topics) if topics is not None else None
    with Reader(path) as reader:
        conns = [c for c in reader.connections if wanted is None or c.topic in wanted]
        for conn, t_ns, raw in reader.messages(connections=conns):
            yield conn.topic, conn.msgtype, int(t_ns), bytes(raw)


def read_messages(path: str, topics: Optional[Iterable[str]] = None):
    """(topic, msgtype, log time ns, rosbags message object) in recorded order."""
    store = get_typestore()
    for topic, msgtype, t_ns, raw in read_raw(path, topics):
        yield topic, msgtype, t_ns, store.deserialize_cdr(raw, msgtype)


class BagWriter:
    """Write raw CDR messages to an MCAP file or a rosbag2 directory; use as a context manager.

    A path ending in `.mcap` becomes one MCAP file (like the bundled demo.mcap); any other path a rosbag2
    directory (metadata.yaml + storage file, mcap or sqlite3).
    """

    def __init__(self, path: str, storage: str = 'mcap', overwrite: bool = False):
        from rosbags.rosbag2 import StoragePlugin, Writer
        self.path = Path(path)
        self.single_file = self.path.suffix == '.mcap'
        if self.path.exists():
            if not overwrite:
                raise FileExistsError(f'{self.path} exists (pass overwrite / --force)')
            if self.path.is_dir():
                shutil.rmtree(self.path)
            else:
                self.path.unlink()
        self._tmp: Optional[str] = None
        target = self.path
        plugin = StoragePlugin.MCAP if (storage == 'mcap' or self.single_file) else StoragePlugin.SQLITE3
        if self.single_file:
            self._tmp = tempfile.mkdtemp(prefix='mipnet_bag_', dir=str(self.path.parent.resolve()))
            target = Path(self._tmp) / self.path.stem
        self._writer = Writer(target, version=9, storage_plugin=plugin)
        self._target = target
        self._conns: Dict[str, object] = {}
        self.counts: Dict[str, int] = {}

    def compress(self) -> 'BagWriter':
        """zstd-compress the MCAP chunks (standard MCAP; still readable by ros2 bag and rosbags)."""
        from rosbags.rosbag2 import CompressionFormat, CompressionMode
        self._writer.set_compression(CompressionMode.STORAGE, CompressionFormat.ZSTD)
        return self

    def __enter__(self) -> 'BagWriter':
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer.open()
        return self

    def add_topic(self, topic: str, msgtype: str) -> None:
        if topic not in self._conns:
            self._conns[topic] = self._writer.add_connection(topic, msgtype, typestore=get_typestore())
            self.counts[topic] = 0

    def write(self, topic: str, t_ns: int, raw: bytes) -> None:
        self._writer.write(self._conns[topic], int(t_ns), raw)
        self.counts[topic] += 1

    def write_msg(self, topic: str, msgtype: str, t_ns: int, msg) -> None:
        """Write a rosbags message object (used when generating bags without ROS)."""
        self.add_topic(topic, msgtype)
        self.write(topic, t_ns, bytes(get_typestore().serialize_cdr(msg, msgtype)))

    def __exit__(self, *exc) -> None:
        self._writer.close()
        if self._tmp is not None:
            try:
                if exc[0] is None:
                    produced = next(self._target.glob('*.mcap'))
                    os.replace(produced, self.path)
            finally:
                shutil.rmtree(self._tmp, ignore_errors=True)


_BASE_DEFAULTS = {'bool': False, 'string': '', 'float32': 0.0, 'float64': 0.0}


def make_msg(msgtype: str, **values):
    """A rosbags message object with every field not given set to its zero value (nested too).

    rosbags message classes want every field; this keeps bag-generating code readable.
    """
    import numpy as np
    store = get_typestore()
    cls = store.types[msgtype]
    kwargs = {}
    for name, (kind, detail) in store.fielddefs[msgtype][1]:
        if name in values:
            kwargs[name] = values[name]
            continue
        kind = getattr(kind, 'name', kind)
        if kind == 'BASE':
            base = detail[0]
            kwargs[name] = _BASE_DEFAULTS.get(base, 0)
        elif kind == 'NAME':
            kwargs[name] = make_msg(detail)
        elif kind == 'ARRAY':
            (sub_kind, sub_detail), length = detail
            if getattr(sub_kind, 'name', sub_kind) == 'BASE':
                dtype = {'float32': np.float32, 'float64': np.float64, 'uint8': np.uint8, 'int8': np.int8}.get(
                    sub_detail[0], None)
                kwargs[name] = np.zeros(length, dtype=dtype) if dtype else [
                    _BASE_DEFAULTS.get(sub_detail[0], 0)] * length
            else:
                kwargs[name] = [make_msg(sub_detail) for _ in range(length)]
        else:  # SEQUENCE
            (sub_kind, sub_detail), _ = detail
            if getattr(sub_kind, 'name', sub_kind) == 'BASE' and sub_detail[0] in ('uint8', 'float32', 'float64'):
                kwargs[name] = np.zeros(0, dtype={'uint8': np.uint8, 'float32': np.float32,
                                                  'float64': np.float64}[sub_detail[0]])
            else:
                kwargs[name] = []
    return cls(**kwargs)
