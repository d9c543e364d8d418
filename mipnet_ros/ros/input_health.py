"""Why no frame was processed lately: no input, one side only, or both sides whose stamps never pair.

The node feeds arrivals (wall time + header stamp of each image and detection array) and
processed frames; `problem()` answers, for /diagnostics, in words a user can act on. Ages are
measured on the monotonic clock from the last processed frame (or activation) to now, so a
silent input is noticed even though no frame carries a stamp to compare with.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Deque, Optional

RECENT_STAMPS = 30   # stamps kept per side to report the closest image/detection difference
STAMP_FIX = 'the detector must copy the image header stamp, or set stamp_slop_sec above that difference'


@dataclass
class _Side:
    last_arrival: float = float('-inf')
    stamps: Deque[int] = field(default_factory=lambda: deque(maxlen=RECENT_STAMPS))


class InputHealth:
    """Thread-safe record of input arrivals and processed frames (subscription callbacks and the worker)."""

    def __init__(self, image_topic: str = 'image', detections_topic: str = 'detections',
                 clock=time.monotonic):
        self.image_topic, self.detections_topic = image_topic, detections_topic
        self._clock = clock
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Start of a new active period: nothing seen yet, the stale age counts from now."""
        with self._lock:
            self._images, self._detections = _Side(), _Side()
            self._last_processed = self._active_since = self._clock()
            self._processed_seen = 0
            self._paired_seen, self._last_paired = 0, float('-inf')

    def image(self, stamp_ns: int) -> None:
        self._arrive(self._images, stamp_ns)

    def detections(self, stamp_ns: int) -> None:
        self._arrive(self._detections, stamp_ns)

    def _arrive(self, side: _Side, stamp_ns: int) -> None:
        with self._lock:
            side.last_arrival = self._clock()
            side.stamps.append(int(stamp_ns))

    def processed(self, count: int) -> None:
        """The node's processed-frame counter; an increase marks a processed frame now."""
        with self._lock:
            if count > self._processed_seen:
                self._processed_seen = count
                self._last_processed = self._clock()

    def paired(self, count: int) -> None:
        """The pairer's paired counter; an increase marks a pair made now."""
        with self._lock:
            if count > self._paired_seen:
                self._paired_seen = count
                self._last_paired = self._clock()

    def seconds_since_processed(self) -> float:
        with self._lock:
            return self._clock() - self._last_processed

    def closest_stamp_difference_ms(self) -> Optional[float]:
        """Smallest |image stamp - detections stamp| among the recent ones (None until both sides arrived)."""
        with self._lock:
            images, dets = sorted(self._images.stamps), list(self._detections.stamps)
        if not images or not dets:
            return None
        import bisect
        best = None
        for d in dets:
            i = bisect.bisect_left(images, d)
            for j in (i - 1, i):
                if 0 <= j < len(images):
                    diff = abs(images[j] - d)
                    best = diff if best is None or diff < best else best
        return best / 1e6

    def problem(self, stale_sec: float) -> Optional[str]:
        """A WARN sentence when nothing was processed for `stale_sec`, else None."""
        now = self._clock()
        with self._lock:
            idle = now - self._last_processed
            images = now - self._images.last_arrival <= stale_sec
            dets = now - self._detections.last_arrival <= stale_sec
            pairs = now - self._last_paired <= stale_sec
        if idle <= stale_sec:
            return None
        waited = f'no frame processed for {idle:.1f} s'
        if not images and not dets:
            return (f'{waited}: no input arrives (neither images on {self.image_topic} nor detections on '
                    f'{self.detections_topic}); check the topic remaps and that the camera and detector run')
        if images and not dets:
            return (f'{waited}: images arrive on {self.image_topic} but no detections on {self.detections_topic}; '
                    'check the detector runs and publishes there (and its type and QoS)')
        if dets and not images:
            return (f'{waited}: detections arrive on {self.detections_topic} but no images on {self.image_topic}; '
                    'check the image topic remap, image_transport and the camera QoS')
        if pairs:
            return (f'{waited}: images and detections pair but no frame completes; see rejected_images, '
                    'errors and the log for the reason')
        return f'{waited}: images and detections arrive but none pair ({self._closest_text()}); {STAMP_FIX}'

    def _closest_text(self) -> str:
        diff = self.closest_stamp_difference_ms()
        return f'closest stamp difference seen {diff:.1f} ms' if diff is not None else 'no stamps seen'

    def stamp_mismatch(self, window_sec: float, pairing=None) -> Optional[str]:
        """A WARN sentence when both inputs arrived within `window_sec` but none paired for that long, else None.

        A detector slower than the camera leaves most images unmatched while every detection array pairs:
        that is normal and answers None. `pairing` (the pairer's PairingStats) updates the pair count first
        and adds the unmatched counts to the sentence.
        """
        if pairing is not None:
            self.paired(pairing.paired)
        now = self._clock()
        with self._lock:
            since_pair = now - max(self._last_paired, self._active_since)
            both = (now - self._images.last_arrival <= window_sec and now - self._detections.last_arrival <= window_sec)
        if since_pair <= window_sec or not both:
            return None
        counts = (f'; so far {pairing.unmatched_images} image(s) and {pairing.unmatched_detections} detection '
                  'array(s) had no partner' if pairing is not None else '')
        return (f'images and detections arrive but none paired for {since_pair:.1f} s ({self._closest_text()}'
                f'{counts}); {STAMP_FIX}')
