"""The pose node counts every person box it cannot run and logs each reason with its fix (one throttled line)."""
import time

import numpy as np
import pytest

rclpy = pytest.importorskip('rclpy')
from rclpy.parameter import Parameter  # noqa: E402

from mipnet_ros.core.resources import bundled_model_path  # noqa: E402
from mipnet_ros.offline.launcher import domain_id_for  # noqa: E402
from mipnet_ros.ros.detection_policy import REJECT_HINTS  # noqa: E402
from mipnet_ros.testing.log_lines import LogLines  # noqa: E402
from mipnet_ros.testing.ros_probe import detections_msg, image_msg  # noqa: E402


def test_rejected_boxes_are_counted_and_logged_with_their_fix(one_torch_thread):
    from rclpy.lifecycle import TransitionCallbackReturn

    from mipnet_ros.ros.pose_node import MipnetNode
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=domain_id_for(__file__))
    node = None
    try:
        node = MipnetNode(namespace='box_log', context=ctx, parameter_overrides=[
            Parameter('model', value=str(bundled_model_path())), Parameter('warmup', value=False),
            Parameter('autostart', value=False), Parameter('frame_budget_sec', value=0.0)])
        lines = LogLines()
        node.get_logger = lambda: lines
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
        assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
        stamp = 5 * 10**9
        boxes = [(np.nan, 10, 60, 100), (80, 10, 70, 100), (10, 10, 70, 140)]   # NaN, x2 < x1, good
        node._on_image(image_msg(stamp, 200, 150))
        node._on_detections(detections_msg(stamp, boxes, ['nan', 'flat', 'good']))
        deadline = time.time() + 60
        while node.stats.processed < 1 and time.time() < deadline:
            time.sleep(0.05)
        assert node.stats.processed == 1 and node.stats.rejected_boxes == 2
        assert node.stage_times[-1]['boxes'] == 1                     # the good box still runs
        logged = [w for w in lines.warnings if 'detection box(es) rejected' in w]
        assert len(logged) == 1
        assert f"nonfinite: 1 ({REJECT_HINTS['nonfinite']})" in logged[0]
        assert f"size: 1 ({REJECT_HINTS['size']})" in logged[0]
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown(context=ctx)
