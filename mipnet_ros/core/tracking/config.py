"""Typed settings of the keypoint tracker (the tracker node fills them from its ROS parameters)."""
from dataclasses import dataclass


@dataclass
class TrackerConfig:
    # hysteresis: a track is published after `init_hits` matches and ends after `max_missed` frames unseen
    init_hits: int = 3
    max_missed: int = 45
    max_missed_tentative: int = 1
    # association: a person joins a track only when 1 - OKS(track prediction, person) <= max_distance
    max_distance: float = 0.8
    # the OKS scale of a track grows by this fraction per frame unseen (its position gets less certain)
    uncertainty_growth: float = 0.25
    # an unmatched person this close (1 - OKS) to a person matched in the same frame is a duplicate
    duplicate_distance: float = 0.2
    # keypoint template: share of a new confident observation mixed into each joint's offset
    template_rate: float = 0.3
    # constant-velocity Kalman filter of the body centre (pixels, seconds)
    measurement_noise_px: float = 4.0
    acceleration_noise_px: float = 400.0
    initial_speed_px: float = 300.0
    default_dt_sec: float = 0.1
    # at most this many people per frame are tracked (best scores); the rest pass through untracked
    max_people: int = 200

    def check(self) -> None:
        if self.init_hits < 1 or self.max_missed < 0 or self.max_missed_tentative < 0:
            raise ValueError('init_hits must be >= 1 and the max_missed values >= 0')
        if not 0.0 < self.max_distance <= 1.0 or not 0.0 <= self.duplicate_distance <= 1.0:
            raise ValueError('max_distance must be in (0, 1] and duplicate_distance in [0, 1]')
        if not 0.0 < self.template_rate <= 1.0:
            raise ValueError('template_rate must be in (0, 1]')
