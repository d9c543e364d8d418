"""/diagnostics of a launched node tells why nothing is processed: no input, one side only, stamps that
never pair (with the difference seen), and the silence after frames stop, counted from the last frame.
"""
import os
import time

import pytest

rclpy = pytest.importorskip('rclpy')
from rclpy.qos import qos_profile_sensor_data  # noqa: E402

from mipnet_ros.offline.launcher import NodeLauncher, domain_id_for, write_params_file  # noqa: E402
from mipnet_ros.ros import topics  # noqa: E402
from mipnet_ros.ros.params import qos_profile  # noqa: E402
from mipnet_ros.testing.ros_probe import STARTUP_TIMEOUT, Probe, detections_msg, image_msg  # noqa: E402

STALE_SEC = 1.0
OK, WARN = 0, 1


@pytest.fixture(scope='module')
def env(tmp_path_factory):
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import Image
    from vision_msgs.msg import Detection2DArray
    tmp = tmp_path_factory.mktemp('diagnostics')
    domain = domain_id_for(__file__)
    params = write_params_file(tmp / 'params.yaml', {'stale_frame_age_sec': STALE_SEC, 'publish_annotated': False,
                                                     'publish_markers': False})
    launcher = NodeLauncher({'params_file': str(params), 'namespace': 'diag'},
                            env=dict(os.environ, ROS_DOMAIN_ID=str(domain)), log_path=tmp / 'launch.log').start()
    probe = Probe(domain, 'probe_diagnostics')
    try:
        received = []

        def on_diag(msg):
            for s in msg.status:
                if 'pose estimation' in s.name:
                    level = int.from_bytes(s.level, 'little') if isinstance(s.level, bytes) else int(s.level)
                    values = {kv.key: kv.value for kv in s.values}
                    with probe.cond:
                        received.append((time.monotonic(), level, s.message, values))
                        probe.cond.notify_all()
        probe.node.create_subscription(DiagnosticArray, topics.DIAGNOSTICS, on_diag, 10)
        img_pub = probe.node.create_publisher(Image, f'/diag/{topics.IMAGE}', qos_profile_sensor_data)
        det_pub = probe.node.create_publisher(Detection2DArray, f'/diag/{topics.DETECTIONS}',
                                              qos_profile('reliable', 10))
        deadline = time.time() + STARTUP_TIMEOUT
        while time.time() < deadline and 0 in (img_pub.get_subscription_count(), det_pub.get_subscription_count()):
            time.sleep(0.1)
        if img_pub.get_subscription_count() == 0:
            pytest.fail('node never subscribed:\n' + launcher.log_text()[-3000:])
        yield probe, received, img_pub, det_pub
    finally:
        probe.close()
        launcher.stop()


def during(env, seconds, image_offsets=None, det_offsets=None, period=0.2, start_sec=1000):
    """Publish for `seconds` (images and/or detections, stamps offset in ns); the statuses received meanwhile."""
    probe, received, img_pub, det_pub = env
    t0 = time.monotonic()
    k = 0
    while time.monotonic() - t0 < seconds:
        stamp = (start_sec + k) * 10**9
        if image_offsets is not None:
            img_pub.publish(image_msg(stamp + image_offsets, 160, 120))
        if det_offsets is not None:
            det_pub.publish(detections_msg(stamp + det_offsets, [(20, 10, 80, 110)], ['p']))
        k += 1
        time.sleep(period)
    with probe.cond:
        # statuses from the second half: the node has seen this phase's input for > stale_frame_age_sec
        return [r[1:] for r in received if r[0] > t0 + seconds / 2]


def warned(statuses, text):
    return [s for s in statuses if s[0] == WARN and text in s[1]]


def test_no_input_at_all_warns(env):
    statuses = during(env, 3.0)
    hits = warned(statuses, 'no input arrives')
    assert hits, statuses
    assert '/diag/image' in hits[0][1] and '/diag/detections' in hits[0][1]


def test_images_only_and_detections_only_name_the_side(env):
    assert warned(during(env, 3.0, image_offsets=0, start_sec=2000), 'images arrive on /diag/image but no detections')
    assert warned(during(env, 3.0, det_offsets=0, start_sec=3000),
                  'detections arrive on /diag/detections but no images')


def test_unpaired_stamps_warn_with_the_difference(env):
    statuses = during(env, 3.5, image_offsets=0, det_offsets=40_000_000, start_sec=4000)   # restamped +40 ms
    hits = warned(statuses, 'none pair')
    assert hits, statuses
    assert 'closest stamp difference seen 40.0 ms' in hits[-1][1] and 'stamp_slop_sec' in hits[-1][1]
    assert hits[-1][2]['closest_stamp_difference_ms'] == '40.0'


def test_processing_is_ok_then_silence_is_counted_from_the_last_frame(env):
    statuses = during(env, 4.0, image_offsets=0, det_offsets=0, period=0.5, start_sec=5000)
    assert any(level == OK for level, _, _ in statuses), statuses
    assert int(statuses[-1][2]['frames_processed']) > 0
    after = during(env, 3.0)
    hits = warned(after, 'no input arrives')
    assert hits, after
    assert float(hits[-1][2]['seconds_since_last_frame']) > STALE_SEC
