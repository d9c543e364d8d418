"""Parameters of mipnet_keypoints3d: its dataclass, its specs and the values that cannot work together.

config/keypoints3d.yaml holds the same defaults (a test checks they agree). `live` parameters take
effect on the next frame; the others are read on configure.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

from mipnet_ros.core.depth3d import DepthOptions
from mipnet_ros.core.errors import ParameterError
from mipnet_ros.ros.params import ParamSpec, ParamTable


@dataclass
class Keypoints3DParams:
    publish_3d: bool = True
    depth_window: int = 5
    depth_min: float = 0.1
    depth_max: float = 20.0
    depth_min_valid_fraction: float = 0.2
    depth_person_spread: float = 0.7
    sync_approximate: bool = False
    sync_slop_sec: float = 0.05
    sync_queue_size: int = 10
    camera_info_max_age_sec: float = 1.0
    camera_info_wait_sec: float = 0.5
    require_same_frame: bool = True
    publish_markers: bool = True
    marker_line_width: float = 0.02
    marker_joint_size: float = 0.05
    qos_depth_reliability: str = 'best_effort'
    qos_depth_depth: int = 5
    qos_keypoints_depth: int = 10
    qos_output_reliability: str = 'reliable'
    qos_output_depth: int = 10
    hri_enabled: bool = False
    hri_max_bodies: int = 32
    hri_body_timeout_sec: float = 1.0
    hri_id_prefix: str = 'b'
    hri_cropped: bool = True
    qos_keypoints_reliability: str = 'reliable'
    qos_image_reliability: str = 'best_effort'
    autostart: bool = True
    exit_with_parent: bool = True

    def depth_options(self) -> DepthOptions:
        return DepthOptions(window=self.depth_window, min_depth=self.depth_min, max_depth=self.depth_max,
                            min_valid_fraction=self.depth_min_valid_fraction,
                            person_spread=self.depth_person_spread)


SPECS: Tuple[ParamSpec, ...] = (
    ParamSpec('publish_3d', 'publish_3d',
              "Subscribe the aligned depth image and CameraInfo and publish 3D keypoints; false = only the "
              "ROS4HRI output (hri.enabled)."),
    ParamSpec('depth.window', 'depth_window', 'Side in pixels of the window whose median valid depth a keypoint '
              'gets (clipped to the image).', live=True, int_range=(1, 51)),
    ParamSpec('depth.min', 'depth_min', 'Depth readings nearer than this (metres) are ignored.', live=True,
              float_range=(0.0, 100.0)),
    ParamSpec('depth.max', 'depth_max', 'Depth readings farther than this (metres) are ignored.', live=True,
              float_range=(0.0, 1000.0)),
    ParamSpec('depth.min_valid_fraction', 'depth_min_valid_fraction',
              'A keypoint needs at least this fraction of valid depth pixels in its window.', live=True,
              float_range=(0.0, 1.0)),
    ParamSpec('depth.person_spread', 'depth_person_spread',
              "Keypoints farther than this (metres) from the person's median depth are invalid (their pixel shows "
              'the background or an occluder); 0 = keep them.', live=True, float_range=(0.0, 100.0)),
    ParamSpec('sync.approximate', 'sync_approximate',
              'false: keypoints and depth are paired by identical header stamps; true: within sync.slop_sec.'),
    ParamSpec('sync.slop_sec', 'sync_slop_sec', 'Largest stamp difference paired when sync.approximate is true.',
              float_range=(0.0, 1.0)),
    ParamSpec('sync.queue_size', 'sync_queue_size', 'Messages of each input kept while waiting for a partner.',
              int_range=(1, 1000)),
    ParamSpec('camera_info.max_age_sec', 'camera_info_max_age_sec',
              'Use the CameraInfo with the depth stamp, else the newest one at most this much older or newer; '
              '0 = any age (a latched CameraInfo).', live=True, float_range=(0.0, 3600.0)),
    ParamSpec('camera_info.wait_sec', 'camera_info_wait_sec',
              'How long a paired frame waits for the CameraInfo with its stamp (it may arrive after the depth '
              'image); only while CameraInfo stamps match the depth stamps.', live=True, float_range=(0.0, 10.0)),
    ParamSpec('require_same_frame', 'require_same_frame',
              "Reject depth (and CameraInfo) whose frame_id is not the keypoints' image frame: depth must be "
              'aligned to the colour image.', live=True),
    ParamSpec('publish_markers', 'publish_markers',
              'Publish 3D skeleton markers (only built while someone subscribes).', live=True),
    ParamSpec('marker.line_width', 'marker_line_width', 'Width of the 3D skeleton lines in metres.', live=True,
              float_range=(0.001, 1.0)),
    ParamSpec('marker.joint_size', 'marker_joint_size', 'Diameter of the 3D joint spheres in metres.', live=True,
              float_range=(0.001, 1.0)),
    ParamSpec('qos.depth.reliability', 'qos_depth_reliability', 'Depth image and CameraInfo subscription '
              'reliability (sensor data: best_effort).', choices=('best_effort', 'reliable')),
    ParamSpec('qos.depth.depth', 'qos_depth_depth', 'Depth and CameraInfo queue depth.', int_range=(1, 1000)),
    ParamSpec('qos.keypoints.depth', 'qos_keypoints_depth', 'Keypoints subscription queue depth (reliable).',
              int_range=(1, 1000)),
    ParamSpec('qos.output.reliability', 'qos_output_reliability', 'Reliability of the 3D keypoints, markers and '
              'ROS4HRI topics.', choices=('best_effort', 'reliable')),
    ParamSpec('qos.output.depth', 'qos_output_depth', 'Queue depth of the outputs.', int_range=(1, 1000)),
    ParamSpec('hri.enabled', 'hri_enabled',
              'Publish ROS4HRI bodies (/humans/bodies/tracked, /humans/bodies/<id>/skeleton2d and roi) from the '
              'tracked 2D keypoints; needs hri_msgs.'),
    ParamSpec('hri.max_bodies', 'hri_max_bodies', 'At most this many bodies with their own topics at once.',
              int_range=(1, 1000)),
    ParamSpec('hri.body_timeout_sec', 'hri_body_timeout_sec',
              "A body's topics are removed when it was not seen for this long (header stamps).", live=True,
              float_range=(0.0, 3600.0)),
    ParamSpec('hri.id_prefix', 'hri_id_prefix',
              'Body id = prefix + track_id (topic name tokens must not start with a digit).'),
    ParamSpec('hri.cropped', 'hri_cropped',
              'Publish /humans/bodies/<id>/cropped: the body box cut from the image topic with the keypoints stamp.'),
    ParamSpec('qos.keypoints.reliability', 'qos_keypoints_reliability', 'Keypoints subscription reliability: '
              'reliable (no loss) needs a reliable publisher; best_effort hears both kinds.',
              choices=('best_effort', 'reliable')),
    ParamSpec('qos.image.reliability', 'qos_image_reliability', 'Image subscription reliability (for '
              'hri.cropped; sensor data: best_effort).', choices=('best_effort', 'reliable')),
    ParamSpec('autostart', 'autostart', 'Configure and activate at start-up; false = wait for lifecycle transitions.'),
    ParamSpec('exit_with_parent', 'exit_with_parent',
              'Stop the node (cleanly) when the process that started it exits, e.g. a killed ros2 launch; '
              'false = keep running as an orphan.'),
)


def cross_check(p: Keypoints3DParams) -> Optional[ParameterError]:
    """Values that cannot work together (each value alone is checked by the table)."""
    if p.depth_min >= p.depth_max:
        return ParameterError(f'depth.min ({p.depth_min}) must be below depth.max ({p.depth_max})', 'depth.min')
    if not p.publish_3d and not p.hri_enabled:
        return ParameterError('publish_3d and hri.enabled are both false: the node would do nothing', 'publish_3d')
    return None


TABLE: ParamTable[Keypoints3DParams] = ParamTable(Keypoints3DParams, SPECS, cross_check)
