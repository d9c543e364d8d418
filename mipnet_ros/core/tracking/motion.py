"""A person's motion: constant-velocity Kalman filter of its body centre plus a keypoint template.

Why a template rather than one filter per joint: when a person walks behind someone, the joints
that are still seen move with the body, and the hidden ones must too. The centre is measured by
registering the confident joints to the template (mean of joint - offset), so a person seen only
by its head still moves its whole skeleton; the offsets adapt slowly to pose changes.
"""
from __future__ import annotations

from typing import Optional

import cv2
import numpy as np

from mipnet_ros.core.tracking.config import TrackerConfig

CONFIDENT = 2


class BodyMotion:
    """Centre (x, y, vx, vy) in a cv2.KalmanFilter and per-joint offsets from that centre."""

    def __init__(self, keypoints: np.ndarray, visibility: np.ndarray, area: float, cfg: TrackerConfig):
        self.cfg = cfg
        k = len(keypoints)
        self.offsets = np.zeros((k, 2), np.float64)
        self.known = np.zeros(k, bool)
        use = self._usable(visibility)
        centre = keypoints[use].mean(axis=0) if use.any() else np.zeros(2)
        self.offsets[use] = keypoints[use] - centre
        self.known[use] = True
        self.area = max(float(area), 1.0)
        kf = cv2.KalmanFilter(4, 2)
        kf.measurementMatrix = np.eye(2, 4, dtype=np.float32)
        kf.measurementNoiseCov = np.eye(2, dtype=np.float32) * np.float32(cfg.measurement_noise_px ** 2)
        kf.statePost = np.array([[centre[0]], [centre[1]], [0.0], [0.0]], np.float32)
        r2, v2 = cfg.measurement_noise_px ** 2, cfg.initial_speed_px ** 2
        kf.errorCovPost = np.diag([r2, r2, v2, v2]).astype(np.float32)
        self.kf = kf
        self._predicted = False

    @staticmethod
    def _usable(visibility: np.ndarray) -> np.ndarray:
        vis = np.asarray(visibility)
        sure = vis == CONFIDENT
        return sure if sure.any() else vis > 0

    @property
    def centre(self) -> np.ndarray:
        return self.kf.statePost[:2, 0].astype(np.float64)

    @property
    def velocity(self) -> np.ndarray:
        return self.kf.statePost[2:, 0].astype(np.float64)

    @property
    def position_variance(self) -> float:
        """Variance (pixels squared, per axis) of the predicted centre, beyond the measurement noise."""
        cov = self.kf.errorCovPre if self._predicted else self.kf.errorCovPost
        return max(float(cov[0, 0] + cov[1, 1]) / 2.0 - self.cfg.measurement_noise_px ** 2, 0.0)

    def keypoints(self) -> np.ndarray:
        """(K, 2) where the template puts every joint now (meaningful where `known`)."""
        return self.centre[None] + self.offsets

    def predict(self, dt: float) -> None:
        dt = float(dt)
        self.kf.transitionMatrix = np.array([[1, 0, dt, 0], [0, 1, 0, dt], [0, 0, 1, 0], [0, 0, 0, 1]], np.float32)
        g = np.array([[dt * dt / 2, 0], [0, dt * dt / 2], [dt, 0], [0, dt]], np.float64)
        self.kf.processNoiseCov = (g @ g.T * self.cfg.acceleration_noise_px ** 2).astype(np.float32)
        self.kf.predict()
        self._predicted = True

    def update(self, keypoints: np.ndarray, visibility: np.ndarray, area: Optional[float]) -> None:
        use = self._usable(visibility)
        if not use.any():
            return
        both = use & self.known
        if both.any():
            measured = (keypoints[both] - self.offsets[both]).mean(axis=0)
        else:   # nothing in common with the template: the seen joints' mean, template re-anchored there
            measured = keypoints[use].mean(axis=0)
        self.kf.correct(measured.astype(np.float32).reshape(2, 1))
        self._predicted = False
        centre = self.centre
        rate = self.cfg.template_rate
        fresh = use & ~self.known
        self.offsets[both] = (1 - rate) * self.offsets[both] + rate * (keypoints[both] - centre)
        self.offsets[fresh] = keypoints[fresh] - centre
        self.known |= use
        if area is not None and area > 0:
            self.area = (1 - rate) * self.area + rate * float(area)
