"""mipnet_tracker's annotated image: it follows image_transport (compressed images on image/compressed) and
the images waiting for their tracked message stay within cache_max_mb."""
import threading
import time

import cv2
import numpy as np
import pytest

rclpy = pytest.importorskip('rclpy')
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.lifecycle import TransitionCallbackReturn  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from test_tracker_node import frame, person  # noqa: E402

from mipnet_ros.msg import PersonKeypointsArray  # noqa: E402
from mipnet_ros.offline.launcher import domain_id_for  # noqa: E402
from mipnet_ros.ros import topics  # noqa: E402
from mipnet_ros.ros.params import qos_profile  # noqa: E402
from mipnet_ros.ros.tracker_node import TrackerNode  # noqa: E402

WAIT_SEC = 30.0


def jpeg(stamp_ns: int, seed: int):
    from sensor_msgs.msg import CompressedImage
    noise = np.random.default_rng(seed).integers(0, 255, (480, 640, 3), dtype=np.uint8)   # does not compress
    ok, data = cv2.imencode('.jpg', noise, [cv2.IMWRITE_JPEG_QUALITY, 95])
    msg = CompressedImage(format='jpeg', data=data.tobytes())
    msg.header.stamp.sec, msg.header.stamp.nanosec = stamp_ns // 10**9, stamp_ns % 10**9
    msg.header.frame_id = 'cam'
    return msg


def wait(cond) -> bool:
    deadline = time.time() + WAIT_SEC
    while not cond() and time.time() < deadline:
        time.sleep(0.02)
    return cond()


def test_compressed_images_are_annotated_and_their_cache_is_bounded_in_bytes():
    from sensor_msgs.msg import CompressedImage, Image
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=domain_id_for(__file__))
    tracker = TrackerNode(context=ctx, parameter_overrides=[
        Parameter('image_transport', value='compressed'), Parameter('cache_max_mb', value=1),
        Parameter('cache_size', value=100), Parameter('init_hits', value=1),
        Parameter('qos.image.reliability', value='reliable'), Parameter('qos.image.depth', value=20)])
    feeder = rclpy.create_node('feeder', context=ctx)
    executor = SingleThreadedExecutor(context=ctx)
    thread = None
    try:
        assert tracker.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert tracker.trigger_activate() == TransitionCallbackReturn.SUCCESS
        assert tracker._image_sub.topic_name == '/image/compressed'
        assert tracker._image_sub.msg_type is CompressedImage
        annotated = []
        feeder.create_subscription(Image, '/mipnet_tracker/annotated_image', annotated.append,
                                   qos_profile('reliable', 10))
        img_pub = feeder.create_publisher(CompressedImage, topics.IMAGE_COMPRESSED, qos_profile('reliable', 50))
        kp_pub = feeder.create_publisher(PersonKeypointsArray, topics.KEYPOINTS, qos_profile('reliable', 10))
        for node in (tracker, feeder):
            executor.add_node(node)
        thread = threading.Thread(target=executor.spin, daemon=True)
        thread.start()
        assert wait(lambda: img_pub.get_subscription_count() and kp_pub.get_subscription_count()
                    and tracker._pub_annotated.get_subscription_count())
        stamps = [10**9 + k * 10**8 for k in range(8)]
        images = [jpeg(s, k) for k, s in enumerate(stamps)]
        assert sum(len(m.data) for m in images) > 2 << 20             # twice the cap: the cap must act
        for msg in images:
            img_pub.publish(msg)
        pairer = tracker._pairer
        assert wait(lambda: pairer.pending()[0] + pairer.stats.unmatched_images == len(images))
        assert pairer.pending_bytes()[0] <= 1 << 20 and pairer.stats.unmatched_images >= 4
        kp_pub.publish(frame(stamps[-1], [person(0, 0)]))              # the newest image is still waiting
        assert wait(lambda: len(annotated) == 1)
        out = annotated[0]
        assert (out.header.stamp.sec, out.header.stamp.nanosec, out.header.frame_id) == (1, 7 * 10**8, 'cam')
        assert (out.width, out.height) == (640, 480)
    finally:
        executor.shutdown(timeout_sec=2.0)
        if thread is not None:
            thread.join(5.0)
        tracker.destroy_node()
        feeder.destroy_node()
        rclpy.try_shutdown(context=ctx)
