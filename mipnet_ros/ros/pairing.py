"""Exact-stamp pairing of images with detection arrays, and the 1-slot latest-frame mailbox.

Not message_filters: its synchronisers pair by approximate time and may join a detection with a neighbouring
frame. Here a detection array only joins the image with its own stamp (or one within an explicit `slop`,
default 0), whichever arrives first; what falls out of the bounded caches unpaired is counted, never re-paired.
Plain Python (no ROS), so the policy is unit-tested on its own."""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Dict, Generic, Optional, Tuple, TypeVar

T = TypeVar('T')


@dataclass
class PairingStats:
    paired: int = 0
    unmatched_images: int = 0        # images evicted (or replaced) without detections
    unmatched_detections: int = 0    # detection arrays evicted (or replaced) without an image

    @property
    def unmatched(self) -> int:
        return self.unmatched_images + self.unmatched_detections


def payload_bytes(msg: Any) -> int:
    """Size of a message's `data` field (Image, CompressedImage); 0 for messages without one."""
    data = getattr(msg, 'data', None)
    try:
        return len(data) if data is not None else 0
    except TypeError:
        return 0


class StampPairer:
    """Join (stamp, image) and (stamp, detections) into (stamp, image, detections).

    At most `capacity` items and `max_bytes` bytes (as measured by `size_of`) are kept per side,
    oldest arrival evicted first; the newest item is kept even when it alone is larger. With
    `slop_ns` > 0 the closest waiting partner within the slop is taken; an exact match always wins.
    """

    def __init__(self, capacity: int = 30, slop_ns: int = 0, max_bytes: Optional[int] = None,
                 size_of: Callable[[Any], int] = payload_bytes):
        if capacity < 1:
            raise ValueError('capacity must be >= 1')
        self.capacity = int(capacity)
        self.slop_ns = max(0, int(slop_ns))
        self.max_bytes = None if max_bytes is None else max(0, int(max_bytes))
        self.stats = PairingStats()
        self._size_of = size_of
        self._images: 'OrderedDict[int, Any]' = OrderedDict()
        self._dets: 'OrderedDict[int, Any]' = OrderedDict()
        self._sizes: Dict[int, Dict[int, int]] = {id(self._images): {}, id(self._dets): {}}
        self._lock = threading.Lock()

    def add_image(self, stamp_ns: int, image: Any) -> Optional[Tuple[int, Any, Any]]:
        with self._lock:
            hit = self._take(self._dets, stamp_ns)
            if hit is None:
                self._store(self._images, stamp_ns, image, image_side=True)
                return None
            self.stats.paired += 1
            return stamp_ns, image, hit[1]

    def add_detections(self, stamp_ns: int, detections: Any) -> Optional[Tuple[int, Any, Any]]:
        with self._lock:
            hit = self._take(self._images, stamp_ns)
            if hit is None:
                self._store(self._dets, stamp_ns, detections, image_side=False)
                return None
            self.stats.paired += 1
            return hit[0], hit[1], detections   # the image's stamp names the frame

    def pending(self) -> Tuple[int, int]:
        with self._lock:
            return len(self._images), len(self._dets)

    def pending_bytes(self) -> Tuple[int, int]:
        with self._lock:
            return tuple(sum(self._sizes[id(c)].values()) for c in (self._images, self._dets))

    def clear(self) -> None:
        """Forget everything waiting (e.g. on deactivate); those items count as unmatched."""
        with self._lock:
            self.stats.unmatched_images += len(self._images)
            self.stats.unmatched_detections += len(self._dets)
            self._images.clear()
            self._dets.clear()
            for sizes in self._sizes.values():
                sizes.clear()

    # ------------------------------------------------------------------------------------------
    def _take(self, cache: 'OrderedDict[int, Any]', stamp_ns: int) -> Optional[Tuple[int, Any]]:
        if stamp_ns in cache:
            return stamp_ns, self._pop(cache, stamp_ns)
        if self.slop_ns <= 0 or not cache:
            return None
        best = min(cache, key=lambda s: abs(s - stamp_ns))
        if abs(best - stamp_ns) <= self.slop_ns:
            return best, self._pop(cache, best)
        return None

    def _pop(self, cache: 'OrderedDict[int, Any]', stamp_ns: Optional[int] = None) -> Any:
        """Remove `stamp_ns` (default: the oldest arrival) from `cache` with its size."""
        if stamp_ns is None:
            stamp_ns, item = cache.popitem(last=False)
        else:
            item = cache.pop(stamp_ns)
        self._sizes[id(cache)].pop(stamp_ns, None)
        return item

    def _store(self, cache: 'OrderedDict[int, Any]', stamp_ns: int, item: Any, image_side: bool) -> None:
        lost = 0
        if stamp_ns in cache:          # a second message with the same stamp replaces the first
            self._pop(cache, stamp_ns)
            lost += 1
        sizes = self._sizes[id(cache)]
        cache[stamp_ns] = item
        sizes[stamp_ns] = self._size_of(item) if self.max_bytes is not None else 0
        total = sum(sizes.values()) if self.max_bytes is not None else 0
        while len(cache) > self.capacity or (self.max_bytes is not None and total > self.max_bytes and len(cache) > 1):
            oldest = next(iter(cache))
            total -= sizes.get(oldest, 0)
            self._pop(cache)
            lost += 1
        if image_side:
            self.stats.unmatched_images += lost
        else:
            self.stats.unmatched_detections += lost


class LatestSlot(Generic[T]):
    """A mailbox with one slot: `put` replaces what the worker has not taken yet.

    The node must always work on the newest frame; a queue would let latency grow without bound
    when inference is slower than the camera. `dropped` counts the frames replaced unseen.
    """

    def __init__(self):
        self._item: Optional[T] = None
        self._key: Optional[int] = None
        self._has = False
        self._closed = False
        self._cond = threading.Condition()
        self.dropped = 0

    def put(self, item: T, key: Optional[int] = None) -> bool:
        """Store `item`; True when an unprocessed item was dropped (the waiting one or this one).

        With `key` (the frame stamp) the slot never goes back in time: an item older than the
        one waiting is the one dropped, so a late pair cannot displace a newer frame.
        """
        with self._cond:
            if self._has:
                self.dropped += 1
                if key is not None and self._key is not None and key < self._key:
                    return True
            dropped = self._has
            self._item, self._key, self._has = item, key, True
            self._cond.notify()
            return dropped

    def get(self, timeout: Optional[float] = None) -> Optional[T]:
        """The newest item (removing it), or None on timeout or after `close`."""
        with self._cond:
            self._cond.wait_for(lambda: self._has or self._closed, timeout)
            if not self._has:
                return None
            item, self._item, self._key, self._has = self._item, None, None, False
            return item

    def clear(self) -> None:
        with self._cond:
            if self._has:
                self.dropped += 1
            self._item, self._key, self._has = None, None, False

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def reopen(self) -> None:
        with self._cond:
            self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed
