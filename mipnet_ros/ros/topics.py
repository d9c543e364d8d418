"""Node names, topic names and message types: the one table used by the nodes, launch, replay, demo and tests.

Names are relative ('image') or private ('~/markers') as the node sees them; launch files remap
the relative ones, so users never edit code to rewire a robot.
"""
# default node names (the executables have the same names; launch arguments rename the nodes)
POSE_NODE = 'mipnet_node'
TRACKER_NODE = 'mipnet_tracker'
KEYPOINTS3D_NODE = 'mipnet_keypoints3d'
RVIZ_FRAMES_NODE = 'mipnet_rviz_frames'

IMAGE = 'image'
IMAGE_COMPRESSED = 'image/compressed'
DETECTIONS = 'detections'
KEYPOINTS = 'keypoints'
MARKERS = '~/markers'
ANNOTATED_IMAGE = '~/annotated_image'
MODEL_INFO = '~/model_info'
# mipnet_tracker: subscribes KEYPOINTS, publishes the same people with track ids
TRACKED_KEYPOINTS = 'tracked_keypoints'

IMAGE_TYPES = ('sensor_msgs/msg/Image', 'sensor_msgs/msg/CompressedImage')
DETECTIONS_TYPE = 'vision_msgs/msg/Detection2DArray'
YOLO_DETECTIONS_TYPE = 'yolo_msgs/msg/DetectionArray'   # yolo_ros, accepted when installed
DIAGNOSTICS = '/diagnostics'
KEYPOINTS_TYPE = 'mipnet_ros/msg/PersonKeypointsArray'
MODEL_INFO_TYPE = 'mipnet_ros/msg/PoseModelInfo'
MARKERS_TYPE = 'visualization_msgs/msg/MarkerArray'
IMAGE_TYPE = 'sensor_msgs/msg/Image'

# mipnet_keypoints3d: 2D keypoints (KEYPOINTS) + aligned depth + its CameraInfo -> 3D keypoints, 3D markers
DEPTH_IMAGE = 'depth_image'
CAMERA_INFO = 'camera_info'
KEYPOINTS_3D = 'keypoints_3d'
MARKERS_3D = 'keypoints_3d_markers'
CAMERA_INFO_TYPE = 'sensor_msgs/msg/CameraInfo'
KEYPOINTS_3D_TYPE = 'mipnet_ros/msg/PersonKeypoints3DArray'

# ROS4HRI (REP-155) bodies: absolute names, as the HRI ecosystem expects them
HRI_BODIES_TRACKED = '/humans/bodies/tracked'


def private_leaf(name: str) -> str:
    """'~/markers' -> 'markers': the last part of a private topic, as it ends a resolved name."""
    return name[2:] if name.startswith('~/') else name


def image_topic(transport: str) -> str:
    """The image topic the node subscribes for an image_transport parameter value."""
    return IMAGE_COMPRESSED if transport == 'compressed' else IMAGE


def hri_body_topic(body_id: str, leaf: str) -> str:
    """'/humans/bodies/<id>/<leaf>' (leaf: 'skeleton2d' or 'roi')."""
    return f'/humans/bodies/{body_id}/{leaf}'
