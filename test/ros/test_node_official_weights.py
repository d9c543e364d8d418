"""An official-format checkpoint (written by the reference MIPNet code) in the launched node.

A wrong `arch` fails configure with one ERROR line naming the parameter; with `arch` empty the node
recognises the architecture from the weight shapes, and its keypoints on a real photograph equal
the Python API's on the same frame and box.
"""
import os
import time

import numpy as np
import pytest

rclpy = pytest.importorskip('rclpy')
cv2 = pytest.importorskip('cv2')
import _reference_models as ref_models  # noqa: E402
import torch  # noqa: E402

from mipnet_ros.offline.launcher import NodeLauncher, domain_id_for, write_params_file  # noqa: E402
from mipnet_ros.ros import topics  # noqa: E402
from mipnet_ros.ros.params import qos_profile  # noqa: E402
from mipnet_ros.testing.ros_probe import Probe, call_service, detections_msg, stamp_of  # noqa: E402

IMAGE = ref_models.SHARED / 'data' / 'ochuman' / '000817.jpg'
ARCH = 'hrnet_w16s'
THRESHOLDS = {'keypoint_threshold': 0.0, 'oks_nms_threshold': 0.9}   # the node: the same, and every person


def _image_msg(bgr, stamp_ns):
    from sensor_msgs.msg import Image
    h, w = bgr.shape[:2]
    msg = Image(height=h, width=w, encoding='bgr8', step=3 * w)
    msg.data = bgr.tobytes()
    msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, 10**9)
    msg.header.frame_id = 'cam'
    return msg


def test_official_checkpoint_runs_in_the_node_like_the_python_api(tmp_path):
    from lifecycle_msgs.msg import State, Transition
    from lifecycle_msgs.srv import ChangeState, GetState
    from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
    from rcl_interfaces.srv import SetParameters
    from sensor_msgs.msg import Image
    from vision_msgs.msg import Detection2DArray

    from mipnet_ros.core.estimator import PoseEstimator
    from mipnet_ros.msg import PersonKeypointsArray
    ref_models.require_reference()
    if not IMAGE.is_file():
        pytest.skip(f'{IMAGE} not found')
    official = ref_models.build_reference(ARCH, gated=True, seed=11).eval()
    ckpt = tmp_path / 'official_w16s.pth'
    torch.save({'state_dict': official.state_dict(), 'epoch': 140}, ckpt)   # the official training wrapper

    bgr = cv2.imread(str(IMAGE))
    box = (40.0, 20.0, min(bgr.shape[1] - 1.0, 330.0), bgr.shape[0] - 10.0)
    expected = PoseEstimator(str(ckpt), arch=ARCH, instance_threshold=0.0,   # the node below publishes all
                             **THRESHOLDS)(bgr, np.array([box], np.float32))

    domain = domain_id_for(__file__)
    # reliable images: a full-size photograph over a best-effort subscription can lose its UDP fragments
    params = write_params_file(tmp_path / 'params.yaml', {
        **THRESHOLDS, 'instance_threshold': 0.0, 'publish_annotated': False, 'publish_markers': False,
        'qos.image.reliability': 'reliable'})
    launcher = NodeLauncher({'params_file': str(params), 'model': str(ckpt), 'arch': 'resnet50',
                             'autostart': 'false'}, env=dict(os.environ, ROS_DOMAIN_ID=str(domain)),
                            log_path=tmp_path / 'launch.log').start()
    probe = Probe(domain, 'probe_official')
    try:
        node = probe.node
        change = node.create_client(ChangeState, '/mipnet_node/change_state')
        get_state = node.create_client(GetState, '/mipnet_node/get_state')
        set_params = node.create_client(SetParameters, '/mipnet_node/set_parameters')

        def transition(tid):
            return call_service(change, ChangeState.Request(transition=Transition(id=tid))).success

        # a wrong architecture: configure fails with one ERROR line that names the parameter
        assert not transition(Transition.TRANSITION_CONFIGURE)
        time.sleep(0.5)
        errors = [line for line in launcher.log_text().splitlines() if '[ERROR]' in line]
        assert len(errors) == 1, launcher.log_text()[-3000:]
        assert "parameter 'arch'" in errors[0] and 'arch:=' in errors[0]

        empty = Parameter(name='arch', value=ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=''))
        assert call_service(set_params, SetParameters.Request(parameters=[empty])).results[0].successful
        assert transition(Transition.TRANSITION_CONFIGURE), launcher.log_text()[-3000:]
        assert transition(Transition.TRANSITION_ACTIVATE), launcher.log_text()[-3000:]
        assert call_service(get_state, GetState.Request()).current_state.id == State.PRIMARY_STATE_ACTIVE
        assert f'configured: {ARCH} N=2' in launcher.log_text()

        got, _ = probe.collect(PersonKeypointsArray, f'/{topics.KEYPOINTS}', qos_profile('reliable', 10))
        # reliable: a full-size photograph as best-effort UDP fragments can be lost on a busy machine
        img_pub = node.create_publisher(Image, f'/{topics.IMAGE}', qos_profile('reliable', 10))
        det_pub = node.create_publisher(Detection2DArray, f'/{topics.DETECTIONS}', qos_profile('reliable', 10))
        deadline = time.time() + 30
        while time.time() < deadline and 0 in (img_pub.get_subscription_count(), det_pub.get_subscription_count()):
            time.sleep(0.05)
        stamp = 0
        for k in range(10):
            stamp = (700 + k) * 10**9
            img_pub.publish(_image_msg(bgr, stamp))
            det_pub.publish(detections_msg(stamp, [box], ['official'], score=1.0))
            if probe.wait(lambda: bool(got), 3.0):
                break
        assert got, 'no keypoints:\n' + launcher.log_text()[-3000:]
    finally:
        probe.close()
        launcher.stop()

    out = got[0]
    assert stamp_of(out) >= 700 * 10**9
    assert len(out.persons) == len(expected) >= 1
    for p, e in zip(sorted(out.persons, key=lambda p: p.instance_index), sorted(expected, key=lambda e: e.instance)):
        assert p.instance_index == e.instance and p.score == pytest.approx(e.score, abs=1e-5)
        xy = np.stack([p.x, p.y], 1)
        # keypoints the message marks as having no estimate (random weights put some outside the image)
        seen = np.asarray(p.visibility) > 0 if len(getattr(p, 'visibility', ())) else True
        shown = np.isfinite(xy).all(1) & seen
        assert shown.sum() >= len(xy) // 2
        np.testing.assert_allclose(xy[shown], e.keypoints[shown], atol=1e-3)
        np.testing.assert_allclose(np.clip(p.keypoint_scores, 0, 1), np.clip(e.keypoint_scores, 0, 1), atol=1e-5)
