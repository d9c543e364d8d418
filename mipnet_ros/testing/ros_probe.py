"""A probe node for tests that talk to a running mipnet_node through DDS, and the messages they send it."""
from __future__ import annotations

import threading
import time

import numpy as np

from mipnet_ros.ros.convert import stamp_to_ns

STARTUP_TIMEOUT = 120.0     # seconds for a launched node to publish ~/model_info on a loaded machine


class Probe:
    """A node in its own context and domain, spinning in a thread, that records what it receives."""

    def __init__(self, domain: int, name: str):
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        self.ctx = rclpy.Context()
        rclpy.init(context=self.ctx, domain_id=domain)
        self.node = rclpy.create_node(name, context=self.ctx)
        self.executor = SingleThreadedExecutor(context=self.ctx)
        self.executor.add_node(self.node)
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def collect(self, msg_type, topic, qos):
        got = []

        def cb(msg):
            with self.cond:
                got.append(msg)
                self.cond.notify_all()
        sub = self.node.create_subscription(msg_type, topic, cb, qos)
        return got, sub

    def wait(self, predicate, timeout: float) -> bool:
        with self.cond:
            return self.cond.wait_for(predicate, timeout=timeout)

    def close(self):
        import rclpy
        self.executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.ctx)


def call_service(client, request, timeout: float = 60.0):
    """The answer of a service whose node is spun elsewhere (the probe's thread); asserts it came."""
    assert client.wait_for_service(timeout_sec=30), f'service {client.srv_name} not available'
    fut = client.call_async(request)
    deadline = time.time() + timeout
    while not fut.done() and time.time() < deadline:
        time.sleep(0.02)
    assert fut.done(), f'{client.srv_name} did not answer'
    return fut.result()


def stamp_of(msg) -> int:
    return stamp_to_ns(msg.header.stamp)


def image_msg(stamp_ns: int, width: int, height: int = 120, encoding: str = 'bgr8', frame_id: str = 'cam'):
    """sensor_msgs/Image of seeded noise (the seed is the width) with that stamp and frame."""
    from sensor_msgs.msg import Image
    channels = {'bgr8': 3, 'rgb8': 3, 'mono8': 1, 'rgba8': 4, 'bgra8': 4, '16UC1': 2}[encoding]
    rng = np.random.default_rng(width)
    data = rng.integers(0, 255, (height, width * channels), dtype=np.uint8)
    msg = Image(height=height, width=width, encoding=encoding, step=width * channels)
    msg.data = data.tobytes()
    msg.header.stamp.sec, msg.header.stamp.nanosec = stamp_ns // 10**9, stamp_ns % 10**9
    msg.header.frame_id = frame_id
    return msg


def detections_msg(stamp_ns: int, boxes, ids, cls='person', score=0.9):
    """vision_msgs/Detection2DArray: one detection of class `cls` and `score` per x1, y1, x2, y2 box."""
    from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose
    arr = Detection2DArray()
    arr.header.stamp.sec, arr.header.stamp.nanosec = stamp_ns // 10**9, stamp_ns % 10**9
    for (x1, y1, x2, y2), det_id in zip(boxes, ids):
        d = Detection2D(id=det_id)
        d.bbox.center.position.x, d.bbox.center.position.y = (x1 + x2) / 2, (y1 + y2) / 2
        d.bbox.size_x, d.bbox.size_y = float(x2 - x1), float(y2 - y1)
        h = ObjectHypothesisWithPose()
        h.hypothesis.class_id, h.hypothesis.score = cls, score
        d.results.append(h)
        arr.detections.append(d)
    return arr
