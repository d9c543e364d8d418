"""Multi-person tracking on keypoints: OKS-like association, constant-velocity motion, hysteresis.

ROS-free, so the tracker node, the tracking benchmark and the tests run the same code.
"""
from mipnet_ros.core.tracking.config import TrackerConfig
from mipnet_ros.core.tracking.ids import TrackIds, process_track_ids, start_token
from mipnet_ros.core.tracking.stream import StreamGuard, StreamVerdict
from mipnet_ros.core.tracking.tracker import Observation, PoseTracker, StepResult

__all__ = ['TrackerConfig', 'TrackIds', 'process_track_ids', 'start_token',
           'Observation', 'PoseTracker', 'StepResult', 'StreamGuard', 'StreamVerdict']
