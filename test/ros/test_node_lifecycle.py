"""mipnet_node lifecycle through its services, launched with autostart:=false and use_compressed:=true.

unconfigured -> (configure with a missing model: fails, diagnostics ERROR) -> configure -> inactive
(publishers exist, nothing processed) -> activate (model info latched, CompressedImage frames
answered) -> deactivate (nothing answered) -> cleanup (publishers gone) -> activate again.
"""
import os
import subprocess
import time

import numpy as np
import pytest

rclpy = pytest.importorskip('rclpy')
from mipnet_ros.core.resources import bundled_model_path  # noqa: E402
from mipnet_ros.offline.launcher import NodeLauncher, domain_id_for, write_params_file  # noqa: E402
from mipnet_ros.ros.convert import compress_bgr  # noqa: E402
from mipnet_ros.ros.params import qos_profile  # noqa: E402
from mipnet_ros.testing.ros_probe import Probe, call_service, detections_msg, stamp_of  # noqa: E402


def _compressed(stamp_ns, width=160, height=120):
    from sensor_msgs.msg import CompressedImage
    img = np.random.default_rng(1).integers(0, 255, (height, width, 3), dtype=np.uint8)
    msg = CompressedImage(format='jpeg')
    msg.data = compress_bgr(img, 'jpeg')
    msg.header.stamp.sec, msg.header.stamp.nanosec = stamp_ns // 10**9, stamp_ns % 10**9
    msg.header.frame_id = 'cam'
    return msg


def test_lifecycle_transitions(tmp_path):
    from diagnostic_msgs.msg import DiagnosticArray
    from lifecycle_msgs.msg import State, Transition
    from lifecycle_msgs.srv import ChangeState, GetState
    from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
    from rcl_interfaces.srv import SetParameters
    from sensor_msgs.msg import CompressedImage
    from vision_msgs.msg import Detection2DArray

    from mipnet_ros.msg import PersonKeypointsArray, PoseModelInfo

    domain = domain_id_for(__file__)
    ros_env = dict(os.environ, ROS_DOMAIN_ID=str(domain))
    model = bundled_model_path()
    params = write_params_file(tmp_path / 'params.yaml', {'instance_threshold': 0.0, 'keypoint_threshold': 0.0,
                                                          'model': str(tmp_path / 'missing.pth')})
    launcher = NodeLauncher({'params_file': str(params), 'autostart': 'false', 'use_compressed': 'true'},
                            env=ros_env, log_path=tmp_path / 'launch.log').start()
    probe = Probe(domain, 'probe_lifecycle')
    node = probe.node
    try:
        get_state = node.create_client(GetState, '/mipnet_node/get_state')
        change = node.create_client(ChangeState, '/mipnet_node/change_state')
        set_params = node.create_client(SetParameters, '/mipnet_node/set_parameters')

        def state():
            return call_service(get_state, GetState.Request()).current_state.id

        def transition(tid):
            return call_service(change, ChangeState.Request(transition=Transition(id=tid))).success

        kp, _ = probe.collect(PersonKeypointsArray, '/keypoints', qos_profile('reliable', 50))
        diag, _ = probe.collect(DiagnosticArray, '/diagnostics', 10)
        img_pub = node.create_publisher(CompressedImage, '/image/compressed', qos_profile('reliable', 10))
        det_pub = node.create_publisher(Detection2DArray, '/detections', qos_profile('reliable', 10))

        def frame(stamp):
            img_pub.publish(_compressed(stamp))
            det_pub.publish(detections_msg(stamp, [(10, 10, 80, 110)], ['p']))

        def answered(stamp, timeout):
            return probe.wait(lambda: any(stamp_of(m) == stamp for m in kp), timeout)

        def send_when_subscribed(stamp):
            deadline = time.time() + 10
            while img_pub.get_subscription_count() == 0 and time.time() < deadline:
                time.sleep(0.05)
            time.sleep(0.3)
            frame(stamp)

        assert state() == State.PRIMARY_STATE_UNCONFIGURED            # autostart:=false waits
        assert node.count_publishers('/keypoints') == 0

        # A model that does not exist: configure fails, the node stays unconfigured and says ERROR.
        assert not transition(Transition.TRANSITION_CONFIGURE)
        assert state() == State.PRIMARY_STATE_UNCONFIGURED
        t0 = time.time()
        assert probe.wait(lambda: any(s.level == b'\x02' and 'configure failed' in s.message
                                      and 'model' in s.message
                                      for m in diag[-3:] for s in m.status), 10), 'no ERROR diagnostics'
        assert time.time() - t0 < 10
        good = Parameter(name='model', value=ParameterValue(type=ParameterType.PARAMETER_STRING,
                                                            string_value=str(model)))
        res = call_service(set_params, SetParameters.Request(parameters=[good]))
        assert res.results[0].successful

        assert transition(Transition.TRANSITION_CONFIGURE)
        assert state() == State.PRIMARY_STATE_INACTIVE
        deadline = time.time() + 5
        while node.count_publishers('/keypoints') == 0 and time.time() < deadline:
            time.sleep(0.05)
        assert node.count_publishers('/keypoints') == 1
        frame(10 * 10**9)
        assert not answered(10 * 10**9, 1.5)                         # inactive: nothing processed

        latched = qos_profile('reliable', 1, transient_local=True)
        info, _ = probe.collect(PoseModelInfo, '/mipnet_node/model_info', latched)
        assert transition(Transition.TRANSITION_ACTIVATE)
        assert state() == State.PRIMARY_STATE_ACTIVE
        assert probe.wait(lambda: bool(info), 10), 'no model info after activate'
        send_when_subscribed(11 * 10**9)
        assert answered(11 * 10**9, 20), 'active node did not answer a CompressedImage frame'
        out = [m for m in kp if stamp_of(m) == 11 * 10**9][0]
        assert (out.image_width, out.image_height) == (160, 120) and out.header.frame_id == 'cam'

        assert transition(Transition.TRANSITION_DEACTIVATE)
        assert state() == State.PRIMARY_STATE_INACTIVE
        frame(12 * 10**9)
        assert not answered(12 * 10**9, 1.5)

        assert transition(Transition.TRANSITION_CLEANUP)
        assert state() == State.PRIMARY_STATE_UNCONFIGURED
        deadline = time.time() + 5
        while node.count_publishers('/keypoints') > 0 and time.time() < deadline:
            time.sleep(0.05)
        assert node.count_publishers('/keypoints') == 0               # the model and publishers are released

        assert transition(Transition.TRANSITION_CONFIGURE) and transition(Transition.TRANSITION_ACTIVATE)
        send_when_subscribed(13 * 10**9)
        assert answered(13 * 10**9, 20), 'no answer after cleanup + configure + activate'
        assert not any(stamp_of(m) in (10 * 10**9, 12 * 10**9) for m in kp)
    except AssertionError:
        print(launcher.log_text()[-4000:])
        raise
    finally:
        probe.close()
        launcher.stop()
        subprocess.run(['ros2', 'daemon', 'stop'], env=ros_env, capture_output=True, timeout=30)
