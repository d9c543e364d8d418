"""One PoseEstimator for several camera pipelines, whose boxes run through the network together.

Each camera's worker thread calls the shared estimator as if it were its own (`__call__`, `raw`); a call
that finds the network idle runs at once with every call already waiting (the cameras whose frames are
ready), and the calls that arrive meanwhile form the next batch. So a single camera sees no extra latency,
and several cameras fill one network batch, which is where a GPU gains. Crops, decoding, scoring and
OKS-NMS stay per call, so each camera's people are exactly what its own estimator would give.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, List, Optional

import numpy as np


@dataclass
class BatchStats:
    """What the shared network did: calls served, network runs, and the largest run."""
    calls: int = 0
    runs: int = 0
    boxes: int = 0
    largest_run_calls: int = 0
    calls_per_run: List[int] = field(default_factory=list)   # the last runs, newest last (at most 1000)


class _Call:
    __slots__ = ('image', 'boxes', 'box_scores', 'result', 'error', 'done')

    def __init__(self, image, boxes, box_scores):
        self.image, self.boxes, self.box_scores = image, boxes, box_scores
        self.result, self.error, self.done = None, None, False


class SharedEstimator:
    """Thread-safe wrapper of a PoseEstimator that batches concurrent calls (see the module docstring).

    `gather_sec` > 0 lets the first call of a batch wait that long for the other cameras (useful when
    cameras are synchronised and the network is otherwise idle); 0 batches only what is already waiting.
    Every other attribute (spec, skeleton, device_choice, postprocess ...) is the wrapped estimator's.
    """

    def __init__(self, estimator: Any, gather_sec: float = 0.0):
        self.estimator = estimator
        self.gather_sec = max(0.0, float(gather_sec))
        self.stats = BatchStats()
        self._cond = threading.Condition()
        self._waiting: List[_Call] = []
        self._running = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__dict__['estimator'], name)

    # ------------------------------------------------------------------ the estimator's calls
    def __call__(self, image: np.ndarray, boxes, box_scores: Optional[np.ndarray] = None):
        """As PoseEstimator.__call__: people above instance_threshold, best first."""
        r = self.raw(image, boxes, box_scores)
        if r.box_rows.size == 0:
            return []
        people = self.estimator.postprocess(r.keypoints, r.scores, r.box_rows, r.areas, r.box_scores)
        return [p for p in people if p.score >= self.estimator.instance_threshold]

    def raw(self, image: np.ndarray, boxes, box_scores: Optional[np.ndarray] = None):
        """As PoseEstimator.raw, with the network run shared with the other cameras' waiting calls."""
        call = _Call(image, boxes, box_scores)
        with self._cond:
            self._waiting.append(call)
            while self._running and not call.done:
                self._cond.wait()
            if not call.done:
                self._running = True          # this thread runs the next batch (its own call included)
        if not call.done:
            try:
                if self.gather_sec > 0.0:
                    time.sleep(self.gather_sec)
                with self._cond:
                    batch, self._waiting = self._waiting, []
                self._run(batch)
            finally:
                with self._cond:
                    self._running = False
                    self._cond.notify_all()
        if call.error is not None:
            raise call.error
        return call.result

    # ------------------------------------------------------------------ one network run for a batch
    def _run(self, batch: List[_Call]) -> None:
        from mipnet_ros.core import inputs, transforms
        from mipnet_ros.core.estimator import RawPredictions
        est = self.estimator
        k, n = int(est.spec.num_joints), est.num_instances
        parts = []                      # (call, rows, centers, scales, det, crop count)
        crops_all = []
        for call in batch:
            try:
                image, boxes, ok = est._prepare(call.image, call.boxes)
                det = inputs.check_box_scores(call.box_scores, boxes.shape[0])
            except Exception as exc:  # noqa: BLE001 - this camera's bad input fails its own call only
                call.error, call.done = exc, True
                continue
            rows = np.nonzero(ok)[0]
            if rows.size == 0:
                call.result = RawPredictions(np.zeros((0, n, k, 2), np.float32), np.zeros((0, n, k), np.float32),
                                             rows, np.zeros(0), np.zeros(0))
                call.done = True
                continue
            crops, centers, scales = transforms.prepare_crops(image, boxes[rows], est.input_size)
            crops_all.append(crops)
            parts.append((call, rows, centers, scales, det))
        try:
            if parts:
                hm = est._heatmaps(np.concatenate(crops_all) if len(crops_all) > 1 else crops_all[0])
                coords, maxvals = est.codec.decode(hm, dark=est.dark)
                start = 0
                for call, rows, centers, scales, det in parts:
                    end = start + rows.size
                    kp = transforms.heatmap_to_image(coords[start:end], centers, scales, est.codec.heatmap_size)
                    sc = np.clip(maxvals[start:end], 0.0, 1.0)
                    call.result = RawPredictions(kp.astype(np.float32), sc.astype(np.float32), rows,
                                                 scales[:, 0] * scales[:, 1],
                                                 np.ones(rows.size) if det is None else det[rows])
                    call.done = True
                    start = end
        except Exception as exc:  # noqa: BLE001 - a failed run fails every call in it, each camera reports it
            for call, *_ in parts:
                call.error, call.done = exc, True
        with self._cond:
            s = self.stats
            s.calls += len(batch)
            s.runs += int(bool(parts))
            s.boxes += sum(p[1].size for p in parts)
            s.largest_run_calls = max(s.largest_run_calls, len(parts))
            if parts:
                s.calls_per_run = (s.calls_per_run + [len(parts)])[-1000:]
