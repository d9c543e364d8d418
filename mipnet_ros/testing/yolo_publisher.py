"""Publish camera frames with yolo_msgs/DetectionArray detections, as yolo_ros does (for tests).

    python -m mipnet_ros.testing.yolo_publisher --ns /yolo --frames 20 --start-sec 500

Each frame: a bgr8 noise image and a DetectionArray with the same header stamp holding a
'person' box (index 0) and a 'bicycle' box (index 1). Runs in its own process because
yolo_msgs lives in a prefix only that process has sourced.
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--ns', default='')
    ap.add_argument('--frames', type=int, default=20)
    ap.add_argument('--start-sec', type=int, default=500)
    ap.add_argument('--period', type=float, default=0.25)
    ap.add_argument('--best-effort', action='store_true')
    args = ap.parse_args(argv)
    import rclpy
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image
    from yolo_msgs.msg import Detection, DetectionArray

    from mipnet_ros.ros import topics
    from mipnet_ros.ros.params import qos_profile
    rclpy.init()
    node = rclpy.create_node('yolo_publisher')
    ns = args.ns.rstrip('/')
    det_qos = qos_profile('best_effort' if args.best_effort else 'reliable', 10)
    img_pub = node.create_publisher(Image, f'{ns}/{topics.IMAGE}', qos_profile_sensor_data)
    det_pub = node.create_publisher(DetectionArray, f'{ns}/{topics.DETECTIONS}', det_qos)
    rng = np.random.default_rng(0)
    h, w = 160, 200
    for k in range(args.frames):
        stamp_ns = args.start_sec * 10**9 + k * 10**7
        img = Image(height=h, width=w, encoding='bgr8', step=3 * w)
        img.data = rng.integers(0, 255, (h, 3 * w), dtype=np.uint8).tobytes()
        img.header.stamp.sec, img.header.stamp.nanosec = divmod(stamp_ns, 10**9)
        img.header.frame_id = 'cam'
        arr = DetectionArray(header=img.header)
        for name, cls, (cx, cy, bw, bh) in (('person', 0, (60.0, 80.0, 60.0, 140.0)),
                                            ('bicycle', 1, (150.0, 90.0, 60.0, 100.0))):
            d = Detection(class_id=cls, class_name=name, score=0.9, id=name)
            d.bbox.center.position.x, d.bbox.center.position.y = cx, cy
            d.bbox.size.x, d.bbox.size.y = bw, bh
            arr.detections.append(d)
        img_pub.publish(img)
        det_pub.publish(arr)
        rclpy.spin_once(node, timeout_sec=args.period)
    time.sleep(0.5)
    node.destroy_node()
    rclpy.try_shutdown()
    return 0


if __name__ == '__main__':
    sys.exit(main())
