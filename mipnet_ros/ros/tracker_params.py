"""Every parameter of mipnet_tracker: its dataclass and its specs (declared and read by ros/params.py).

The table is the single source of the declarations and of config/tracker.yaml (a test checks they
agree). The tracking settings are read on configure; the drawing ones are live.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Tuple

from mipnet_ros.core.tracking import TrackerConfig
from mipnet_ros.ros.params import ParamSpec, ParamTable


@dataclass
class TrackerNodeParams:
    # hysteresis, association and motion: TrackerConfig's defaults
    init_hits: int = TrackerConfig.init_hits
    max_missed: int = TrackerConfig.max_missed
    max_missed_tentative: int = TrackerConfig.max_missed_tentative
    max_distance: float = TrackerConfig.max_distance
    uncertainty_growth: float = TrackerConfig.uncertainty_growth
    duplicate_distance: float = TrackerConfig.duplicate_distance
    template_rate: float = TrackerConfig.template_rate
    measurement_noise_px: float = TrackerConfig.measurement_noise_px
    acceleration_noise_px: float = TrackerConfig.acceleration_noise_px
    initial_speed_px: float = TrackerConfig.initial_speed_px
    default_dt_sec: float = TrackerConfig.default_dt_sec
    max_people: int = TrackerConfig.max_people
    # the input stream
    backwards_reset_sec: float = 1.0
    max_gap_sec: float = 5.0
    qos_input_reliability: str = 'reliable'
    qos_input_depth: int = 10
    # the annotated image: camera images paired by exact stamp with the tracked people
    publish_annotated: bool = True
    image_transport: str = 'raw'
    cache_size: int = 30
    cache_max_mb: int = 64
    qos_image_reliability: str = 'best_effort'
    qos_image_depth: int = 5
    # outputs
    qos_output_reliability: str = 'reliable'
    qos_output_depth: int = 10
    publish_markers: bool = True
    marker_scale: float = 0.001
    # lifecycle
    autostart: bool = True
    exit_with_parent: bool = True

    def tracker_config(self) -> TrackerConfig:
        names = {f.name for f in fields(TrackerConfig)}
        return TrackerConfig(**{k: getattr(self, k) for k in names})


SPECS: Tuple[ParamSpec, ...] = (
    ParamSpec('init_hits', 'init_hits', 'Frames a new person must be matched before its track id is published.',
              int_range=(1, 100)),
    ParamSpec('max_missed', 'max_missed',
              'Frames a published track survives without a match (a person hidden behind someone).',
              int_range=(0, 10000)),
    ParamSpec('max_missed_tentative', 'max_missed_tentative',
              'Frames a not yet published track survives without a match.', int_range=(0, 100)),
    ParamSpec('max_distance', 'max_distance',
              'Largest 1 - OKS between a track prediction and a person that still joins them.',
              float_range=(0.01, 1.0)),
    ParamSpec('uncertainty_growth', 'uncertainty_growth',
              'Growth of the OKS scale of a track per frame unseen (its position gets less certain).',
              float_range=(0.0, 10.0)),
    ParamSpec('duplicate_distance', 'duplicate_distance',
              'An unmatched person this close (1 - OKS) to a matched person of the same frame opens no track.',
              float_range=(0.0, 1.0)),
    ParamSpec('template_rate', 'template_rate',
              'Share of a new observation mixed into the keypoint template of a track.', float_range=(0.01, 1.0)),
    ParamSpec('measurement_noise_px', 'measurement_noise_px', 'Kalman filter: body-centre measurement noise (px).',
              float_range=(0.01, 1000.0)),
    ParamSpec('acceleration_noise_px', 'acceleration_noise_px',
              'Kalman filter: body-centre acceleration noise (px/s^2).', float_range=(0.0, 1e6)),
    ParamSpec('initial_speed_px', 'initial_speed_px', 'Kalman filter: uncertainty of a new track speed (px/s).',
              float_range=(0.0, 1e6)),
    ParamSpec('default_dt_sec', 'default_dt_sec',
              'Time step used when two stamps give none (first frame after a reset).', float_range=(1e-4, 10.0)),
    ParamSpec('max_people', 'max_people',
              'At most this many people per message are tracked (best scores); the rest are published untracked. '
              '0 = no limit.', int_range=(0, 100000)),
    ParamSpec('backwards_reset_sec', 'backwards_reset_sec',
              'A stamp older than the last by less than this is dropped (late message); by more, every track '
              'ends (the stream restarted, e.g. a bag loop).', float_range=(0.0, 3600.0)),
    ParamSpec('max_gap_sec', 'max_gap_sec', 'A stamp gap longer than this ends every track.',
              float_range=(0.0, 86400.0)),
    ParamSpec('qos.input.reliability', 'qos_input_reliability',
              'Keypoints subscription reliability (best_effort also accepts a reliable publisher).',
              choices=('best_effort', 'reliable')),
    ParamSpec('qos.input.depth', 'qos_input_depth', 'Keypoints subscription queue depth.', int_range=(1, 1000)),
    ParamSpec('publish_annotated', 'publish_annotated',
              'Subscribe the camera image (see image_transport) and publish ~/annotated_image with people coloured '
              'by track id (drawn only while someone subscribes; false = no image subscription at all).'),
    ParamSpec('image_transport', 'image_transport',
              "'raw' subscribes sensor_msgs/Image on 'image'; 'compressed' subscribes sensor_msgs/CompressedImage on "
              "'image/compressed' (as mipnet_node with the same setting).", choices=('raw', 'compressed')),
    ParamSpec('cache_size', 'cache_size', 'Images and tracked messages kept (each) while waiting for their partner '
              'with the same stamp.', int_range=(1, 1000)),
    ParamSpec('cache_max_mb', 'cache_max_mb',
              'Largest total size in MB of the images waiting for their tracked message (the oldest go first; the '
              'newest image is always kept).', int_range=(1, 65536)),
    ParamSpec('qos.image.reliability', 'qos_image_reliability', 'Image subscription reliability.',
              choices=('best_effort', 'reliable')),
    ParamSpec('qos.image.depth', 'qos_image_depth', 'Image subscription queue depth.', int_range=(1, 1000)),
    ParamSpec('qos.output.reliability', 'qos_output_reliability', 'Reliability of the tracked keypoints and markers.',
              choices=('best_effort', 'reliable')),
    ParamSpec('qos.output.depth', 'qos_output_depth', 'Queue depth of the outputs.', int_range=(1, 1000)),
    ParamSpec('publish_markers', 'publish_markers',
              'Publish ~/markers coloured by track id (only built while someone subscribes).', live=True),
    ParamSpec('marker_scale', 'marker_scale', 'Metres per pixel of the image-plane markers.', live=True,
              float_range=(1e-6, 1.0)),
    ParamSpec('autostart', 'autostart', 'Configure and activate at start-up; false = wait for lifecycle transitions.'),
    ParamSpec('exit_with_parent', 'exit_with_parent',
              'Stop the node (cleanly) when the process that started it exits, e.g. a killed ros2 launch; '
              'false = keep running as an orphan.'),
)
TABLE: ParamTable[TrackerNodeParams] = ParamTable(TrackerNodeParams, SPECS)   # no values that clash
