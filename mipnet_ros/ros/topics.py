"""The node's topic names and message types: the one table used by the node, launch, replay, demo and tests.

Names are relative ('image') or private ('~/markers') as the node sees them; launch files remap
the relative ones, so users never edit code to rewire a robot.
"""
IMAGE = 'image'
IMAGE_COMPRESSED = 'image/compressed'
DETECTIONS = 'detections'
KEYPOINTS = 'keypoints'
MARKERS = '~/markers'
ANNOTATED_IMAGE = '~/annotated_image'
MODEL_INFO = '~/model_info'

IMAGE_TYPES = ('sensor_msgs/msg/Image', 'sensor_msgs/msg/CompressedImage')
DETECTIONS_TYPE = 'vision_msgs/msg/Detection2DArray'
YOLO_DETECTIONS_TYPE = 'yolo_msgs/msg/DetectionArray'   # yolo_ros, accepted when installed
DIAGNOSTICS = '/diagnostics'
DIAGNOSTICS_TYPE = 'diagnostic_msgs/msg/DiagnosticArray'
KEYPOINTS_TYPE = 'mipnet_ros/msg/PersonKeypointsArray'
MODEL_INFO_TYPE = 'mipnet_ros/msg/PoseModelInfo'
MARKERS_TYPE = 'visualization_msgs/msg/MarkerArray'
IMAGE_TYPE = 'sensor_msgs/msg/Image'


def private_leaf(name: str) -> str:
    """'~/markers' -> 'markers': the last part of a private topic, as it ends a resolved name."""
    return name[2:] if name.startswith('~/') else name


def image_topic(transport: str) -> str:
    """The image topic the node subscribes for an image_transport parameter value."""
    return IMAGE_COMPRESSED if transport == 'compressed' else IMAGE
