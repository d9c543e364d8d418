"""Which CameraInfo goes with a depth image, and the (keypoints, depth) pairs that wait for theirs.

CameraInfo travels on its own topic, so it may arrive after its depth image (or, at start-up, be
discovered seconds after it). Pairs wait in arrival order: for the CameraInfo with their stamp while the
driver stamps one per image (at most `wait_sec`), for the first CameraInfo ever (at most `queue_size`
pairs), and not at all for drivers whose CameraInfo stamps never match (a latched one).
"""
from __future__ import annotations

from collections import deque
from typing import Any, List, Tuple

from mipnet_ros.core.depth3d import DepthInputError
from mipnet_ros.ros.convert import stamp_to_ns


class CameraInfoCache:

    def __init__(self, size: int = 30):
        self._infos: 'deque[Any]' = deque(maxlen=size)
        self._pending: 'deque[Tuple[Any, Any, float]]' = deque()
        self._match_stamps = True    # until seen otherwise, expect one CameraInfo per depth image

    def clear(self) -> None:
        self._infos.clear()
        self._pending.clear()

    def has_info(self, msg: Any) -> bool:
        """Whether a CameraInfo with this stamp and frame is already here (the same one, heard twice)."""
        stamp, frame = stamp_to_ns(msg.header.stamp), msg.header.frame_id
        return any(stamp_to_ns(m.header.stamp) == stamp and m.header.frame_id == frame for m in self._infos)

    def add_info(self, msg: Any) -> None:
        self._infos.append(msg)

    def add_pair(self, keypoints: Any, depth: Any, now: float) -> None:
        self._pending.append((keypoints, depth, now))

    def ready(self, depth: Any) -> bool:
        """Whether the CameraInfo for this depth image is here, or waiting for it makes no sense."""
        if not self._infos:
            return False
        stamp = stamp_to_ns(depth.header.stamp)
        stamps = [stamp_to_ns(m.header.stamp) for m in self._infos]
        exact = stamp in stamps
        if exact:
            self._match_stamps = True
        elif max(stamps) > stamp:   # a later CameraInfo came first: this stamp's own one is not coming
            self._match_stamps = False
        return exact or max(stamps) >= stamp or not self._match_stamps

    def due(self, now: float, wait_sec: float, queue_size: int) -> List[Tuple[Any, Any]]:
        """The waiting pairs to process now, oldest first (the order they came in is kept)."""
        out = []
        while self._pending:
            keypoints, depth, since = self._pending[0]
            if len(self._pending) <= queue_size and (
                    not self._infos or (not self.ready(depth) and now - since < wait_sec)):
                break
            self._pending.popleft()
            if self._infos and not self.ready(depth):
                self._match_stamps = False   # waited in vain: this driver does not stamp a CameraInfo per image
            out.append((keypoints, depth))
        return out

    def pick(self, depth: Any, max_age_sec: float, topic: str) -> Any:
        """The CameraInfo with the depth's stamp, else the newest within max_age_sec (0 = any age)."""
        if not self._infos:
            raise DepthInputError('camera_info_missing', f"no CameraInfo received on {topic}: remap camera_info "
                                                         "to the depth stream's camera_info")
        stamp = stamp_to_ns(depth.header.stamp)
        for info in reversed(self._infos):
            if stamp_to_ns(info.header.stamp) == stamp:
                return info
        newest = max(self._infos, key=lambda m: stamp_to_ns(m.header.stamp))
        age = abs(stamp - stamp_to_ns(newest.header.stamp)) / 1e9
        if max_age_sec > 0 and age > max_age_sec:
            raise DepthInputError('camera_info_late', f'the nearest CameraInfo is {age:.2f} s away from the depth '
                                  f'stamp (camera_info.max_age_sec={max_age_sec:g}; 0 accepts any age)')
        return newest
