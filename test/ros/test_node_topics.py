"""mipnet_node through DDS: started with `ros2 launch` (default QoS), fed by a probe node.

Covers: latched model info, best-effort image publisher -> our subscriber, exact header copy,
exact-stamp pairing under shuffled arrival, detections whose image never comes, encodings
accepted/rejected, annotated image only with a subscriber, markers, live parameters, diagnostics.
With the untrained network only structure can be checked (test_node_replay checks keypoints
against ground truth once the trained model exists).
"""
import hashlib
import os
import random
import subprocess
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

rclpy = pytest.importorskip('rclpy')
from rclpy.qos import qos_profile_sensor_data  # noqa: E402

from mipnet_ros.core.resources import bundled_model_path  # noqa: E402
from mipnet_ros.offline.launcher import NodeLauncher, domain_id_for, write_params_file  # noqa: E402
from mipnet_ros.ros.params import qos_profile  # noqa: E402
from mipnet_ros.testing.ros_probe import STARTUP_TIMEOUT, Probe, detections_msg, image_msg, stamp_of  # noqa: E402


def diagnostics_values(probe, diag, after: float, timeout: float = 5.0) -> dict:
    """Key/values of our status from the first /diagnostics message received after `after`."""
    ok = probe.wait(lambda: any(t > after for t, _ in diag), timeout)
    assert ok, 'no /diagnostics'
    with probe.cond:
        msg = [m for t, m in diag if t > after][0]
    status = [s for s in msg.status if 'pose estimation' in s.name][0]
    values = {kv.key: kv.value for kv in status.values}
    values['_level'] = int.from_bytes(status.level, 'little') if isinstance(status.level, bytes) else int(status.level)
    values['_message'] = status.message
    return values


@pytest.fixture(scope='module')
def env(tmp_path_factory):
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import Image
    from vision_msgs.msg import Detection2DArray

    from mipnet_ros.msg import PersonKeypointsArray, PoseModelInfo
    tmp = tmp_path_factory.mktemp('node_topics')
    domain = domain_id_for(__file__)
    model = bundled_model_path()
    # no frame budget: on a loaded machine the time per box can make the node run only the best box
    params = write_params_file(tmp / 'params.yaml', {'instance_threshold': 0.0, 'keypoint_threshold': 0.0,
                                                     'frame_budget_sec': 0.0})
    ros_env = dict(os.environ, ROS_DOMAIN_ID=str(domain))
    launcher = NodeLauncher({'model': str(model), 'params_file': str(params)}, env=ros_env,
                            log_path=tmp / 'launch.log').start()
    probe = Probe(domain, 'probe_topics')
    try:
        latched = qos_profile('reliable', 1, transient_local=True)
        info, _ = probe.collect(PoseModelInfo, '/mipnet_node/model_info', latched)
        kp, _ = probe.collect(PersonKeypointsArray, '/keypoints', qos_profile('reliable', 100))
        diag = []

        def on_diag(msg):
            with probe.cond:
                diag.append((time.time(), msg))
                probe.cond.notify_all()
        probe.node.create_subscription(DiagnosticArray, '/diagnostics', on_diag, 10)
        img_pub = probe.node.create_publisher(Image, '/image', qos_profile_sensor_data)   # best effort
        det_pub = probe.node.create_publisher(Detection2DArray, '/detections', qos_profile('reliable', 10))
        if not probe.wait(lambda: bool(info), STARTUP_TIMEOUT):
            pytest.fail('node never published ~/model_info:\n' + launcher.log_text()[-4000:])
        deadline = time.time() + 20
        while time.time() < deadline and 0 in (img_pub.get_subscription_count(), det_pub.get_subscription_count()):
            time.sleep(0.05)
        time.sleep(0.3)
        yield SimpleNamespace(probe=probe, launcher=launcher, info=info, kp=kp, diag=diag, img_pub=img_pub,
                              det_pub=det_pub, model=Path(model), tmp=tmp)
    finally:
        probe.close()
        launcher.stop()
        subprocess.run(['ros2', 'daemon', 'stop'], env=ros_env, capture_output=True, timeout=30)


def outputs(env, stamps):
    with env.probe.cond:
        return {stamp_of(m): m for m in env.kp if stamp_of(m) in stamps}


def send(env, image=None, dets=None):
    if image is not None:
        env.img_pub.publish(image)
    if dets is not None:
        env.det_pub.publish(dets)


def test_model_info_is_latched_and_describes_the_model(env):
    info = env.info[0]
    assert info.num_instances == 2 and info.skeleton
    assert len(info.keypoint_names) == 17
    assert len(info.edges_from) == len(info.edges_to) > 0 and max(info.edges_from) < 17
    assert (info.input_height, info.input_width) == (96, 64)   # the bundled model's input
    assert info.model_hash == hashlib.sha256(env.model.read_bytes()).hexdigest()
    from mipnet_ros.core.device import resolve_device
    want, why = resolve_device('auto')      # the default is device auto: cpu here
    assert info.backend == 'torch' and info.device == want
    assert info.precision in ('fp32', 'fp16') and info.device_reason.startswith(want)
    assert why in info.device_reason and 'fp16 auto' in info.device_reason
    assert why in env.launcher.log_text()   # the configure line says it too
    assert info.layout == 'shared_trunk'                       # the graph layout that runs


def test_best_effort_image_pairs_and_header_is_copied_exactly(env):
    stamp = 100 * 10**9 + 123_456_789
    img = image_msg(stamp, 200, 150, frame_id='optical_frame_x')
    boxes = [(10, 10, 70, 140), (120, 5, 190, 145)]
    send(env, img, detections_msg(stamp, boxes, ['left', 'right']))
    assert env.probe.wait(lambda: stamp in outputs(env, {stamp}), 20), 'no keypoints for a best-effort image'
    out = outputs(env, {stamp})[stamp]
    assert out.header.stamp == img.header.stamp and out.header.frame_id == 'optical_frame_x'
    assert (out.image_width, out.image_height) == (200, 150)
    assert 2 <= len(out.persons) <= 4
    for p in out.persons:
        assert {'left': 0, 'right': 1}[p.detection_id] == p.detection_index
        assert p.id == f'{p.detection_id}#{p.instance_index}'
        assert len(p.x) == len(p.y) == len(p.keypoint_scores) == len(p.visibility) == 17
        x1, y1, x2, y2 = boxes[p.detection_index]
        assert p.crop_bbox.center.position.x == pytest.approx((x1 + x2) / 2)
    assert {p.detection_index for p in out.persons} == {0, 1}   # everyone's box produced somebody


def test_person_scores_are_the_apis_with_the_detector_score(env):
    """One person-score rule: the node publishes what PoseEstimator gives for the same image, boxes and
    detector scores (the detector score included)."""
    from mipnet_ros.core.estimator import PoseEstimator
    from mipnet_ros.ros.convert import image_msg_to_bgr
    stamp = 150 * 10**9
    img = image_msg(stamp, 200, 150)
    boxes = [(10, 10, 70, 140), (120, 5, 190, 145)]
    send(env, img, detections_msg(stamp, boxes, ['a', 'b'], score=0.6))
    assert env.probe.wait(lambda: stamp in outputs(env, {stamp}), 20), 'no keypoints'
    out = outputs(env, {stamp})[stamp]
    api = PoseEstimator(model=str(env.model), keypoint_threshold=0.0, instance_threshold=0.0)
    want = {(p.box_index, p.instance): p.score
            for p in api(image_msg_to_bgr(img), np.array(boxes, np.float32), box_scores=[0.6, 0.6])}
    got = {(p.detection_index, p.instance_index): p.score for p in out.persons}
    assert got.keys() == want.keys() and got
    assert all(got[k] == pytest.approx(want[k], abs=1e-5) for k in got)
    assert all(p.detection_score == pytest.approx(0.6) and p.score <= 0.6 + 1e-6 for p in out.persons)


def test_shuffled_arrival_pairs_only_same_stamp(env):
    rng = random.Random(7)
    frames = {}
    events = []
    for k in range(5):
        stamp = 200 * 10**9 + k * 10**7
        boxes = [(5 + 40 * j, 5, 35 + 40 * j, 100) for j in range(k % 3 + 1)]
        frames[stamp] = (160 + 8 * k, len(boxes), f'f{k}')
        events.append(('img', image_msg(stamp, 160 + 8 * k)))
        events.append(('det', detections_msg(stamp, boxes, [f'f{k}_{j}' for j in range(len(boxes))])))
    rng.shuffle(events)
    for kind, msg in events:
        send(env, image=msg if kind == 'img' else None, dets=msg if kind == 'det' else None)
        time.sleep(0.4)
    assert env.probe.wait(lambda: len(outputs(env, set(frames))) == len(frames), 20), \
        f'answered {sorted(outputs(env, set(frames)))} of {sorted(frames)}'
    for stamp, out in outputs(env, set(frames)).items():
        width, n_boxes, prefix = frames[stamp]
        assert out.image_width == width                          # the image of this very stamp
        assert all(p.detection_id.startswith(prefix + '_') for p in out.persons)   # and its own detections
        assert {p.detection_index for p in out.persons} == set(range(n_boxes))


def test_detections_without_their_image_are_never_answered(env):
    stamp = 300 * 10**9
    send(env, dets=detections_msg(stamp, [(5, 5, 60, 100)], ['orphan']))
    send(env, image=image_msg(stamp - 1, 160))            # 1 ns off either side: not the same frame
    send(env, image=image_msg(stamp + 1, 160))
    control = 300 * 10**9 + 5 * 10**8
    time.sleep(0.3)
    send(env, image_msg(control, 160), detections_msg(control, [(5, 5, 60, 100)], ['control']))
    assert env.probe.wait(lambda: control in outputs(env, {control}), 20)
    time.sleep(0.5)
    assert not outputs(env, {stamp - 1, stamp, stamp + 1})
    assert all(p.detection_id != 'orphan' for m in list(env.kp) for p in m.persons)


@pytest.mark.parametrize('encoding', ['rgb8', 'mono8', 'rgba8', 'bgra8'])
def test_other_encodings_are_processed(env, encoding):
    stamp = 400 * 10**9 + len(encoding) * 10**6 + ord(encoding[0])
    send(env, image_msg(stamp, 120, 100, encoding=encoding), detections_msg(stamp, [(10, 10, 90, 95)], ['e']))
    assert env.probe.wait(lambda: stamp in outputs(env, {stamp}), 20), f'{encoding} not processed'
    assert outputs(env, {stamp})[stamp].image_width == 120


def test_unsupported_encoding_is_rejected_and_counted(env):
    before = diagnostics_values(env.probe, env.diag, time.time())
    stamp = 450 * 10**9
    rejected0 = int(before['rejected_images'])

    def rejected_after(n, timeout=20.0):
        # one frame at a time (the mailbox keeps only the newest): wait until the node has judged it
        deadline = time.time() + timeout
        while time.time() < deadline:
            values = diagnostics_values(env.probe, env.diag, time.time())
            if int(values['rejected_images']) - rejected0 >= n:
                return values
        return values

    send(env, image_msg(stamp, 100, 80, encoding='16UC1'), detections_msg(stamp, [(5, 5, 60, 70)], ['d']))
    rejected_after(1)
    bad_step = image_msg(stamp + 1, 100, 80)
    bad_step.step = 299                                    # not width * 3 and not matching the data
    send(env, bad_step, detections_msg(stamp + 1, [(5, 5, 60, 70)], ['d']))
    after = rejected_after(2)
    assert int(after['rejected_images']) - rejected0 == 2
    assert 'encoding: 1' in after['rejected_reasons'] and 'layout: 1' in after['rejected_reasons']
    assert not outputs(env, {stamp, stamp + 1})


def test_annotated_image_only_while_someone_subscribes(env):
    from sensor_msgs.msg import Image
    t0 = time.time()
    stamp = 500 * 10**9
    send(env, image_msg(stamp, 160), detections_msg(stamp, [(5, 5, 80, 110)], ['a']))
    assert env.probe.wait(lambda: stamp in outputs(env, {stamp}), 20)
    before = int(diagnostics_values(env.probe, env.diag, t0 + 0.2)['annotated_published'])
    time.sleep(1.2)
    assert int(diagnostics_values(env.probe, env.diag, time.time())['annotated_published']) == before
    got, sub = env.probe.collect(Image, '/mipnet_node/annotated_image', qos_profile('reliable', 10))
    try:
        time.sleep(1.0)                                   # let the node see its subscriber
        stamp2 = stamp + 10**8
        img = image_msg(stamp2, 160)
        send(env, img, detections_msg(stamp2, [(5, 5, 80, 110)], ['a']))
        assert env.probe.wait(lambda: any(stamp_of(m) == stamp2 for m in got), 20), 'no annotated image'
        ann = [m for m in got if stamp_of(m) == stamp2][0]
        assert ann.header.frame_id == 'cam' and (ann.width, ann.height) == (160, 120) and ann.encoding == 'bgr8'
        drawn = np.frombuffer(bytes(ann.data), np.uint8).reshape(120, 160, 3)
        source = np.frombuffer(bytes(img.data), np.uint8).reshape(120, 160, 3)
        assert (drawn != source).any(axis=2).mean() > 0.01    # the box and skeleton are drawn on it
        assert int(diagnostics_values(env.probe, env.diag, time.time())['annotated_published']) > before
    finally:
        env.probe.node.destroy_subscription(sub)


def test_markers_deleteall_then_skeletons_in_image_frame(env):
    from visualization_msgs.msg import Marker, MarkerArray
    got, sub = env.probe.collect(MarkerArray, '/mipnet_node/markers', qos_profile('reliable', 10))
    try:
        time.sleep(1.0)
        stamp = 600 * 10**9
        send(env, image_msg(stamp, 200, frame_id='cam_optical'),
             detections_msg(stamp, [(5, 5, 80, 110), (100, 5, 190, 115)], ['a', 'b']))
        assert env.probe.wait(lambda: any(m.markers and stamp_of(m.markers[0]) == stamp for m in got), 20)
        arr = [m for m in got if m.markers and stamp_of(m.markers[0]) == stamp][0]
        out = outputs(env, {stamp})[stamp]
        assert arr.markers[0].action == Marker.DELETEALL
        assert len(arr.markers) == 1 + 2 * len(out.persons)
        assert all(m.header.frame_id == 'cam_optical' for m in arr.markers)
        spheres = [m for m in arr.markers if m.type == Marker.SPHERE_LIST]
        for person, m in zip(out.persons, spheres):        # the published keypoints, 1 px = 1 mm, z = 0
            want = [(x * 1e-3, y * 1e-3) for x, y, v in zip(person.x, person.y, person.visibility) if v == 2]
            got_xy = np.array([(p.x, p.y) for p in m.points]).reshape(-1, 2)
            np.testing.assert_allclose(got_xy, np.array(want).reshape(-1, 2), atol=1e-6)
            assert all(p.z == 0.0 for p in m.points)
    finally:
        env.probe.node.destroy_subscription(sub)


def test_live_parameter_instance_threshold(env):
    from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
    from rcl_interfaces.srv import SetParameters
    client = env.probe.node.create_client(SetParameters, '/mipnet_node/set_parameters')
    assert client.wait_for_service(timeout_sec=10)

    def set_threshold(value):
        req = SetParameters.Request(parameters=[Parameter(name='instance_threshold', value=ParameterValue(
            type=ParameterType.PARAMETER_DOUBLE, double_value=value))])
        fut = client.call_async(req)
        deadline = time.time() + 10
        while not fut.done() and time.time() < deadline:
            time.sleep(0.02)
        assert fut.done() and fut.result().results[0].successful
    try:
        set_threshold(1.0)                                 # nobody reaches score 1
        stamp = 700 * 10**9
        send(env, image_msg(stamp, 160), detections_msg(stamp, [(5, 5, 80, 110)], ['a']))
        assert env.probe.wait(lambda: stamp in outputs(env, {stamp}), 20)
        assert len(outputs(env, {stamp})[stamp].persons) == 0          # still published: "nobody" is news
    finally:
        set_threshold(0.0)
    stamp = 700 * 10**9 + 10**8
    send(env, image_msg(stamp, 160), detections_msg(stamp, [(5, 5, 80, 110)], ['a']))
    assert env.probe.wait(lambda: stamp in outputs(env, {stamp}), 20)
    assert len(outputs(env, {stamp})[stamp].persons) >= 1


def test_diagnostics_report_the_counters(env):
    values = diagnostics_values(env.probe, env.diag, time.time())
    for key in ('processing_time_ms', 'frame_age_ms', 'people', 'dropped', 'unmatched_images',
                'unmatched_detections', 'rejected_images', 'frames_processed', 'state'):
        assert key in values
    assert values['state'] == 'active'
    assert int(values['frames_processed']) >= 5 and float(values['processing_time_ms']) > 0
    assert int(values['unmatched_detections']) >= 0
    assert values['_level'] in (0, 1)                 # OK, or WARN for the old synthetic stamps (stale)
