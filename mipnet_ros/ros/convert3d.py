"""ROS messages <-> the depth3d library: depth Image and CameraInfo in, PersonKeypoints3DArray and 3D markers out.

The 3D message copies the 2D keypoints header (stamp and optical frame), ids and skeleton name;
points are metres in that optical frame, (0, 0, 0) and valid = false where no depth was found.
"""
from __future__ import annotations

from typing import Any, List, Sequence, Tuple

import numpy as np

from mipnet_ros.core.depth3d import CameraModel, DepthInputError, DepthOptions, camera_model, decode_depth
from mipnet_ros.core.depth_people import PersonInput, people_keypoints_3d
from mipnet_ros.ros.person_record import read_people


def depth_image_m(msg: Any) -> np.ndarray:
    """sensor_msgs/Image (16UC1 mm or 32FC1 m) -> (H, W) float32 metres."""
    return decode_depth(msg.encoding, int(msg.height), int(msg.width), int(msg.step), int(msg.is_bigendian),
                        msg.data)


def camera_from_info(info: Any) -> CameraModel:
    """sensor_msgs/CameraInfo -> CameraModel (raises DepthInputError for an uncalibrated one)."""
    return camera_model(list(info.k), list(info.d), int(info.width), int(info.height), info.distortion_model)


def check_alignment(keypoints: Any, depth: Any, info: Any, same_frame: bool) -> None:
    """Raise DepthInputError when the depth (or CameraInfo) cannot belong to the keypoints' image."""
    kf, df, cf = keypoints.header.frame_id, depth.header.frame_id, info.header.frame_id
    if same_frame and df != kf:
        raise DepthInputError('frame_mismatch', f"depth frame '{df}' is not the image frame '{kf}': publish depth "
                                                'aligned to the colour image (e.g. aligned_depth_to_color)')
    if same_frame and cf != df:
        raise DepthInputError('frame_mismatch', f"CameraInfo frame '{cf}' is not the depth frame '{df}': use the "
                                                "aligned depth stream's camera_info")
    w, h = int(keypoints.image_width), int(keypoints.image_height)
    if w and h and (int(depth.width), int(depth.height)) != (w, h):
        raise DepthInputError('depth_size', f'depth {depth.width}x{depth.height} differs from the image {w}x{h}: '
                                            'publish depth aligned to (and the size of) the colour image')


def people_3d(keypoints: Any, depth_m: np.ndarray, cam: CameraModel, opts: DepthOptions
              ) -> List[Tuple[np.ndarray, np.ndarray]]:
    """Per person of a PersonKeypointsArray: (points (K, 3) metres, valid (K,)), each on its own body.

    The people of the frame are decided together (core/depth_people.py): lambda = 0 people first.
    """
    people = [PersonInput(p.keypoints.astype(np.float64), p.visibility > 0, p.instance)
              for p in read_people(keypoints)]
    return people_keypoints_3d(depth_m, cam, people, opts)


def people_3d_msg(keypoints: Any, results: Sequence[Tuple[np.ndarray, np.ndarray]]):
    """mipnet_ros/PersonKeypoints3DArray with the 2D message's header, skeleton and ids."""
    from mipnet_ros.msg import PersonKeypoints3D, PersonKeypoints3DArray
    msg = PersonKeypoints3DArray(header=keypoints.header, skeleton=keypoints.skeleton)
    for p, (xyz, ok) in zip(keypoints.persons, results):
        xyz = np.where(np.isfinite(xyz), xyz, 0.0).astype(np.float32)
        msg.persons.append(PersonKeypoints3D(
            id=p.id, track_id=p.track_id, score=float(p.score), x=xyz[:, 0].tolist(), y=xyz[:, 1].tolist(),
            z=xyz[:, 2].tolist(), valid=[bool(v) for v in ok]))
    return msg


def msg_3d_arrays(msg: Any) -> List[Tuple[np.ndarray, np.ndarray]]:
    """PersonKeypoints3DArray -> per person (points (K, 3), valid (K,))."""
    return [(np.stack([np.asarray(p.x), np.asarray(p.y), np.asarray(p.z)], 1).astype(np.float64),
             np.asarray(p.valid, bool)) for p in msg.persons]


def markers_3d_msg(msg: Any, edges: Sequence[Tuple[int, int]], line_width: float, joint_size: float):
    """visualization_msgs/MarkerArray of the 3D skeletons, metres in the message's optical frame.

    A tracked person has the colour of its track id, as in the tracker's annotated image and markers."""
    from mipnet_ros.ros.visualize import person_color, skeleton_geometry, skeleton_markers
    geometry = [skeleton_geometry(pts, ok, edges) for pts, ok in msg_3d_arrays(msg)]
    colors = [person_color(i, p.track_id) for i, p in enumerate(msg.persons)]
    return skeleton_markers(msg.header, geometry, 'mipnet_3d', line_width, joint_size, colors=colors)
