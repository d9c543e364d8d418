"""mipnet_rviz_frames: the two fixed frames of the RViz layouts, published as static children of the camera frame.

RViz needs a fixed frame that exists in TF, and a camera frame is only in TF when the robot
publishes it. This node learns the camera frame from the keypoints it sees (header.frame_id, the
image's) and publishes, on /tf_static, two frames attached to it, so RViz works with or without
the robot's TF and never changes the robot's tree (they are new leaves):

- `<prefix>mipnet_view_2d`: the camera frame turned 180 degrees about x. RViz's top-down
  orthographic view looks down its z axis, so it shows the image plane upright (x right, y down),
  as the picture.
- `<prefix>mipnet_view_3d`: at the camera, x forward, y left, z up (the camera body frame of
  REP-103), for a 3D view of the skeletons in front of the camera.

<prefix> is the node's namespace ('front/' for /front), so cameras never share a frame name.
"""
from __future__ import annotations

import sys
from typing import Dict, List, Optional, Tuple

from mipnet_ros.ros import topics

NODE_NAME = topics.RVIZ_FRAMES_NODE
VIEW_2D = 'mipnet_view_2d'
VIEW_3D = 'mipnet_view_3d'
# child frame -> rotation (x, y, z, w) of the child in the camera optical frame
ROTATIONS: Dict[str, Tuple[float, float, float, float]] = {
    VIEW_2D: (1.0, 0.0, 0.0, 0.0),        # 180 degrees about x: y and z flip
    VIEW_3D: (0.5, -0.5, 0.5, 0.5),       # x = optical z, y = -optical x, z = -optical y
}


def frame_prefix(namespace: str) -> str:
    """'/front/left' -> 'front/left/'; '' or '/' -> ''."""
    ns = namespace.strip('/')
    return f'{ns}/' if ns else ''


def view_frame(namespace: str, view: str) -> str:
    """The fixed frame of a layout for a namespace, e.g. view_frame('/front', VIEW_2D) = 'front/mipnet_view_2d'."""
    return frame_prefix(namespace) + view


def transforms_for(camera_frames: List[str], namespace: str) -> List[Tuple[str, str, Tuple[float, ...]]]:
    """(parent, child, rotation) of every view frame; with several camera frames the first one seen wins
    (a frame may have only one parent), later ones get children named after them."""
    out = []
    for i, cam in enumerate(camera_frames):
        suffix = '' if i == 0 else '_' + cam.strip('/').replace('/', '_')
        for view, rot in ROTATIONS.items():
            out.append((cam, view_frame(namespace, view) + suffix, rot))
    return out


def main(args: Optional[List[str]] = None) -> int:
    import rclpy
    from geometry_msgs.msg import TransformStamped
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
    from tf2_msgs.msg import TFMessage

    from mipnet_ros.msg import PersonKeypointsArray
    from mipnet_ros.ros.ros_init import START_FAILED_EXIT, init_ros

    if not init_ros(NODE_NAME, args):
        return START_FAILED_EXIT
    node = rclpy.create_node(NODE_NAME)
    static_qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                            durability=DurabilityPolicy.TRANSIENT_LOCAL)
    pub = node.create_publisher(TFMessage, '/tf_static', static_qos)
    seen: List[str] = []

    def on_keypoints(msg) -> None:
        frame = msg.header.frame_id
        if not frame or frame in seen:
            return
        seen.append(frame)
        out = TFMessage()
        for parent, child, (x, y, z, w) in transforms_for(seen, node.get_namespace()):
            t = TransformStamped()
            t.header.frame_id = parent
            t.header.stamp = msg.header.stamp
            t.child_frame_id = child
            t.transform.rotation.x, t.transform.rotation.y = x, y
            t.transform.rotation.z, t.transform.rotation.w = z, w
            out.transforms.append(t)
        pub.publish(out)
        children = [c for p, c, _r in transforms_for(seen, node.get_namespace()) if p == frame]
        node.get_logger().info(f"camera frame '{frame}': published {', '.join(children)} on /tf_static")

    node.create_subscription(PersonKeypointsArray, topics.KEYPOINTS, on_keypoints, 10)
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, rclpy.executors.ExternalShutdownException):
        pass
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == '__main__':
    sys.exit(main())
