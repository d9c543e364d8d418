"""A generated walking sequence through both launched nodes (`mipnet.launch.py tracker:=true`).

Every frame is answered on `tracked_keypoints` with the image header, the same people as on
`keypoints` plus track ids; the person walking in front keeps one track id; the tracker reports on
/diagnostics and draws ~/markers and ~/annotated_image in the colour of each track.
"""
import os
import subprocess
import threading
import time
from collections import Counter

import numpy as np
import pytest

rclpy = pytest.importorskip('rclpy')
from rclpy.executors import SingleThreadedExecutor  # noqa: E402

from mipnet_ros.core.oks import oks  # noqa: E402
from mipnet_ros.core.resources import bundled_model_path  # noqa: E402
from mipnet_ros.core.skeleton import COCO17  # noqa: E402
from mipnet_ros.offline.launcher import NodeLauncher, domain_id_for, write_params_file  # noqa: E402
from mipnet_ros.ros import topics  # noqa: E402
from mipnet_ros.ros.convert import bgr_to_image_msg, xyxy_to_bbox2d  # noqa: E402
from mipnet_ros.ros.params import qos_profile  # noqa: E402
from mipnet_ros.synth.sequences import SequenceConfig, generate_sequence  # noqa: E402

FRAMES = 24
STARTUP_TIMEOUT = 120.0


def _stamp(msg) -> int:
    return msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec


def _messages(frame, stamp_ns):
    from std_msgs.msg import Header
    from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose
    header = Header(frame_id='walk_cam')
    header.stamp.sec, header.stamp.nanosec = stamp_ns // 10**9, stamp_ns % 10**9
    image = bgr_to_image_msg(frame.image, header)
    dets = Detection2DArray(header=header)
    for box, score in zip(frame.boxes, frame.scores):
        d = Detection2D(bbox=xyxy_to_bbox2d(box))
        h = ObjectHypothesisWithPose()
        h.hypothesis.class_id, h.hypothesis.score = 'person', float(score)
        d.results.append(h)
        dets.detections.append(d)
    return image, dets


def test_generated_sequence_through_both_launched_nodes(tmp_path):
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import Image
    from vision_msgs.msg import Detection2DArray
    from visualization_msgs.msg import MarkerArray

    from mipnet_ros.msg import PersonKeypointsArray
    seq = generate_sequence(0, 'overtaking', SequenceConfig(frames=FRAMES))
    domain = domain_id_for(__file__)
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain))
    params = write_params_file(tmp_path / 'params.yaml', {})
    launcher = NodeLauncher({'model': str(bundled_model_path()), 'params_file': str(params), 'tracker': 'true',
                             'image_reliability': 'reliable', 'detections_reliability': 'reliable'},
                            env=env, log_path=tmp_path / 'launch.log').start()
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=domain)
    node = rclpy.create_node('tracker_replay_probe', context=ctx)
    executor = SingleThreadedExecutor(context=ctx)
    executor.add_node(node)
    cond = threading.Condition()
    got = {'kp': [], 'tracked': [], 'markers': [], 'diag': [], 'annotated': []}

    def keep(key):
        def cb(msg):
            with cond:
                got[key].append(msg)
                cond.notify_all()
        return cb
    try:
        node.create_subscription(PersonKeypointsArray, '/' + topics.KEYPOINTS, keep('kp'), qos_profile('reliable', 100))
        node.create_subscription(PersonKeypointsArray, '/' + topics.TRACKED_KEYPOINTS, keep('tracked'),
                                 qos_profile('reliable', 100))
        node.create_subscription(MarkerArray, '/mipnet_tracker/markers', keep('markers'), qos_profile('reliable', 100))
        node.create_subscription(DiagnosticArray, '/diagnostics', keep('diag'), 50)
        node.create_subscription(Image, '/mipnet_tracker/annotated_image', keep('annotated'),
                                 qos_profile('reliable', 100))
        img_pub = node.create_publisher(Image, '/' + topics.IMAGE, qos_profile('reliable', 10))
        det_pub = node.create_publisher(Detection2DArray, '/' + topics.DETECTIONS, qos_profile('reliable', 10))
        threading.Thread(target=executor.spin, daemon=True).start()
        deadline = time.time() + STARTUP_TIMEOUT
        # the first frame must find every link made: test -> node, node -> tracker (probe + tracker on keypoints)
        while time.time() < deadline and (
                0 in (img_pub.get_subscription_count(), det_pub.get_subscription_count(),
                      node.count_publishers('/' + topics.TRACKED_KEYPOINTS))
                or node.count_subscribers('/' + topics.KEYPOINTS) < 2):
            time.sleep(0.1)
        assert launcher.alive(), launcher.log_text()[-3000:]
        time.sleep(1.0)
        stamps = []
        for k, frame in enumerate(seq.frames):
            stamp = 50 * 10**9 + k * 10**8
            stamps.append(stamp)
            image, dets = _messages(frame, stamp)
            img_pub.publish(image)
            det_pub.publish(dets)
            with cond:
                ok = cond.wait_for(lambda: any(_stamp(m) == stamp for m in got['tracked']), 60 if k == 0 else 20)
            assert ok, f'frame {k} not answered by the tracker\n' + launcher.log_text()[-3000:]
        with cond:
            cond.wait_for(lambda: any(s.name.startswith('mipnet_tracker') and any(
                kv.key == 'received' and kv.value == str(FRAMES) for kv in s.values)
                for m in got['diag'] for s in m.status), 10)
    finally:
        executor.shutdown(timeout_sec=1.0)
        node.destroy_node()
        rclpy.try_shutdown(context=ctx)
        launcher.stop()
        subprocess.run(['ros2', 'daemon', 'stop'], env=env, capture_output=True, timeout=30)

    tracked = {_stamp(m): m for m in got['tracked']}
    plain = {_stamp(m): m for m in got['kp']}
    assert sorted(tracked) == stamps and sorted(plain) == stamps
    for stamp in stamps:
        t, p = tracked[stamp], plain[stamp]
        assert t.header.frame_id == 'walk_cam' and t.header.stamp == p.header.stamp
        assert [q.id for q in t.persons] == [q.id for q in p.persons]
        assert all(list(a.x) == list(b.x) and list(a.visibility) == list(b.visibility)
                   for a, b in zip(t.persons, p.persons))
        assert all(not q.track_id for q in p.persons)                      # ids come from the tracker only
    # the person walking in front (never hidden) keeps one track id once it is published
    front = max(p.identity for p in seq.frames[0].people)
    ids = []
    for k, stamp in enumerate(stamps):
        gt = next(p for p in seq.frames[k].people if p.identity == front)
        people = [q for q in tracked[stamp].persons if q.track_id]
        if not people:
            continue
        poses = np.stack([np.stack([q.x, q.y], 1) for q in people])
        sim = oks(gt.joints[:, :2], poses, gt.area, COCO17.sigmas_array(), mask=gt.joints[:, 2] > 0)
        if sim.max() >= 0.5:
            ids.append(people[int(sim.argmax())].track_id)
    assert len(ids) >= FRAMES // 2, f'the front person was matched in {len(ids)} of {FRAMES} frames'
    assert Counter(ids).most_common(1)[0][1] >= 0.9 * len(ids), ids
    # diagnostics of the tracker, and markers in track colours
    status = [s for m in got['diag'] for s in m.status if s.name.startswith('mipnet_tracker')]
    assert status, 'no tracker diagnostics'
    values = {kv.key: kv.value for kv in status[-1].values}
    assert values['received'] == str(FRAMES) and values['errors'] == '0' and int(values['tracks_born']) >= 1
    assert got['markers'] and all(m.markers[0].header.frame_id == 'walk_cam' for m in got['markers'] if m.markers)
    annotated = {_stamp(m): m for m in got['annotated']}
    assert annotated and set(annotated) <= set(stamps), 'no ~/annotated_image from the tracker'
    assert all(m.header.frame_id == 'walk_cam' and (m.height, m.width) == (256, 320) for m in annotated.values())
