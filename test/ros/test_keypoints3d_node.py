"""mipnet_keypoints3d through DDS, started with `ros2 launch mipnet_ros keypoints3d.launch.py`.

A probe plays keypoints, aligned depth and CameraInfo: good frames give 3D keypoints within 1 cm of
the points that were projected (distorting camera), with the header and ids copied; every bad input
(no CameraInfo, other size, encoding or frame, an uncalibrated or late CameraInfo, no valid depth)
is rejected with its reason in /diagnostics and the log, and the node keeps working.
"""
import os
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

rclpy = pytest.importorskip('rclpy')
from rclpy.executors import SingleThreadedExecutor  # noqa: E402

from mipnet_ros.offline.launcher import NodeLauncher, domain_id_for  # noqa: E402
from mipnet_ros.ros import topics  # noqa: E402
from mipnet_ros.ros.params import qos_profile  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
W, H, FRAME = 320, 240, 'camera_color_optical_frame'
QUEUE = 2   # sync.queue_size: also how many frames wait for the first CameraInfo
K = np.array([[300.0, 0, 161.0], [0, 300.0, 118.5], [0, 0, 1]])
D = np.array([0.1, -0.2, 0.001, -0.002, 0.05])
# two people: A at 2.0 m (all joints), B at 2.6 m (one joint not found by the 2D estimator)
PEOPLE = {'A': np.array([[x, y, 2.0] for x, y in ((-0.5, -0.3), (-0.4, 0.0), (-0.3, 0.3), (-0.2, 0.5))]),
          'B': np.array([[x, y, 2.6] for x, y in ((0.3, -0.2), (0.4, 0.1), (0.5, 0.4), (0.6, 0.5))])}
HIDDEN_B = (1,)   # three of four joints found: enough for a 3D position (core/depth_people.py)


def project(points):
    uv, _ = cv2.projectPoints(points, np.zeros(3), np.zeros(3), K, D)
    return uv.reshape(-1, 2)


def stamp(msg, ns):
    msg.header.stamp.sec, msg.header.stamp.nanosec = ns // 10**9, ns % 10**9
    return msg


def depth_msg(ns, depth_m, encoding='16UC1', frame=FRAME):
    from sensor_msgs.msg import Image
    if encoding == '16UC1':
        data = np.rint(depth_m * 1000).astype('<u2')
    elif encoding == '32FC1':
        data = depth_m.astype('<f4')
    else:
        data = np.zeros(depth_m.shape + (3,), np.uint8)
    h, w = depth_m.shape
    msg = Image(height=h, width=w, encoding=encoding, step=data.nbytes // h)
    msg.data = data.tobytes()
    msg.header.frame_id = frame
    return stamp(msg, ns)


def info_msg(ns, k=K, frame=FRAME):
    from sensor_msgs.msg import CameraInfo
    msg = CameraInfo(width=W, height=H, distortion_model='plumb_bob', d=D.tolist(), k=np.asarray(k).ravel().tolist())
    msg.header.frame_id = frame
    return stamp(msg, ns)


def keypoints_msg(ns):
    from mipnet_ros.msg import PersonKeypoints, PersonKeypointsArray
    msg = PersonKeypointsArray(image_width=W, image_height=H, skeleton='generic4')
    msg.header.frame_id = FRAME
    for name, pts in PEOPLE.items():
        uv = project(pts)
        vis = [0 if (name == 'B' and j in HIDDEN_B) else 2 for j in range(len(pts))]
        uv[np.array(vis) == 0] = 0.0
        msg.persons.append(PersonKeypoints(id=f'det{name}#0', track_id=name.lower(), score=0.8,
                                           x=uv[:, 0].tolist(), y=uv[:, 1].tolist(),
                                           keypoint_scores=[0.9] * len(pts), visibility=vis))
    return stamp(msg, ns)


def scene_depth():
    depth = np.full((H, W), 4.0)
    for pts in PEOPLE.values():
        for u, v in project(pts):
            depth[int(round(v)) - 6:int(round(v)) + 7, int(round(u)) - 6:int(round(u)) + 7] = pts[0, 2]
    return depth


@pytest.fixture(scope='module')
def running(tmp_path_factory):
    domain = domain_id_for('keypoints3d')
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain))
    tmp = tmp_path_factory.mktemp('kp3d')
    doc = yaml.safe_load((REPO / 'config' / 'keypoints3d.yaml').read_text())
    doc['/**']['ros__parameters']['sync']['queue_size'] = QUEUE
    (tmp / 'params.yaml').write_text(yaml.safe_dump(doc))
    launcher = NodeLauncher({'depth_image': '/cam/depth', 'camera_info': '/cam/depth_info', 'keypoints': '/kp',
                             'keypoints3d_params_file': str(tmp / 'params.yaml')},
                            env=env, log_path=tmp / 'node.log', launch_file='keypoints3d.launch.py').start()
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=domain)
    node = rclpy.create_node('kp3d_probe', context=ctx)
    ex = SingleThreadedExecutor(context=ctx)
    ex.add_node(node)
    yield launcher, node, ex
    ex.shutdown(timeout_sec=1.0)
    node.destroy_node()
    rclpy.try_shutdown(context=ctx)
    launcher.stop()


def spin_until(ex, pred, timeout):
    end = time.time() + timeout
    while time.time() < end and not pred():
        ex.spin_once(timeout_sec=0.05)
    return pred()


def test_3d_keypoints_and_every_bad_input(running):
    from diagnostic_msgs.msg import DiagnosticArray
    from sensor_msgs.msg import CameraInfo, Image
    from visualization_msgs.msg import MarkerArray

    from mipnet_ros.msg import PersonKeypoints3DArray, PersonKeypointsArray
    launcher, node, ex = running
    rel = qos_profile('reliable', 50)
    pub_kp = node.create_publisher(PersonKeypointsArray, '/kp', rel)
    pub_depth = node.create_publisher(Image, '/cam/depth', rel)
    pub_info = node.create_publisher(CameraInfo, '/cam/depth_info', rel)
    out, markers, diags = [], [], []
    node.create_subscription(PersonKeypoints3DArray, '/' + topics.KEYPOINTS_3D, out.append, rel)
    node.create_subscription(MarkerArray, '/' + topics.MARKERS_3D, markers.append, rel)
    node.create_subscription(DiagnosticArray, '/diagnostics', diags.append, rel)
    assert spin_until(ex, lambda: not launcher.alive() or (
        pub_kp.get_subscription_count() and pub_depth.get_subscription_count() and pub_info.get_subscription_count()
        and node.count_publishers('/' + topics.KEYPOINTS_3D)), 60) and launcher.alive(), launcher.log_text()[-2000:]
    time.sleep(0.5)
    good = scene_depth()

    def frame(ns, depth=None, info='same stamp', info_after=False, settle=0.3):
        info = info_msg(ns) if isinstance(info, str) else info   # a driver publishes one with every depth image
        if info is not None and not info_after:
            pub_info.publish(info)
            spin_until(ex, lambda: False, 0.15)
        pub_depth.publish(depth if depth is not None else depth_msg(ns, good))
        pub_kp.publish(keypoints_msg(ns))
        if info is not None and info_after:
            spin_until(ex, lambda: False, 0.15)
            pub_info.publish(info)
        spin_until(ex, lambda: False, settle)

    s = 10**9
    for ns in (0.5, 0.6, 0.7):                                              # no CameraInfo yet: they wait,
        frame(int(ns * s), info=None)                                       # the oldest beyond QUEUE: missing
    frame(2 * s)                                                            # good
    frame(3 * s, info_after=True)                                           # good: its CameraInfo comes later
    frame(4 * s, depth_msg(4 * s, good[::2, ::2]))                          # other size
    frame(5 * s, depth_msg(5 * s, good, 'rgb8'))                            # not a depth encoding
    frame(6 * s, depth_msg(6 * s, good, frame='camera_depth_optical_frame'))  # not aligned
    frame(7 * s, depth_msg(7 * s, np.zeros((H, W))))                        # no valid depth anywhere
    frame(8 * s, info=info_msg(8 * s, k=np.zeros((3, 3))))                  # K = 0
    frame(60 * s, info=None, settle=0.8)                                    # newest CameraInfo is 52 s old
    frame(61 * s, depth_msg(61 * s, good, '32FC1'))                         # good again, metres
    assert spin_until(ex, lambda: len(out) >= 4, 10), launcher.log_text()[-3000:]

    stamps = [m.header.stamp.sec for m in out]
    assert stamps == [2, 3, 7, 61]
    for m in (out[0], out[1], out[3]):
        assert m.header.frame_id == FRAME and m.skeleton == 'generic4'
        assert [(p.id, p.track_id) for p in m.persons] == [('detA#0', 'a'), ('detB#0', 'b')]
        for p, truth in zip(m.persons, PEOPLE.values()):
            xyz = np.stack([p.x, p.y, p.z], 1)
            valid = np.array(p.valid)
            expect_valid = [not (p.id == 'detB#0' and j in HIDDEN_B) for j in range(len(truth))]
            assert valid.tolist() == expect_valid
            assert np.linalg.norm(xyz[valid] - truth[valid], axis=1).max() < 0.01
            assert np.all(xyz[~valid] == 0)
    assert not any(any(p.valid) for p in out[2].persons)                    # zero depth: published, all invalid
    assert spin_until(ex, lambda: len(markers) >= 4, 3)                     # 3D markers: metres, optical frame
    spheres = [m for m in markers[-1].markers if m.type == m.SPHERE_LIST]
    assert markers[-1].markers[0].header == out[3].header and len(spheres) == 2
    np.testing.assert_allclose([[q.x, q.y, q.z] for q in spheres[0].points], PEOPLE['A'], atol=0.01)

    def reasons():
        for arr in reversed(diags):
            for st in arr.status:
                if 'keypoints 3d' in st.name:
                    return {kv.key: kv.value for kv in st.values}
        return {}
    expected = ('camera_info_missing', 'depth_size', 'depth_encoding', 'frame_mismatch', 'no_valid_depth',
                'camera_info_invalid', 'camera_info_late')
    assert spin_until(ex, lambda: reasons().get('published') == '4', 5), reasons()
    values = reasons()
    counts = dict(kv.split(': ') for kv in values['rejected_reasons'].split(', '))
    # 0.6 s and 0.7 s waited for a CameraInfo and got the one of 2 s: too far away, like 60 s
    assert counts == {r: '3' if r == 'camera_info_late' else '1' for r in expected}, values
    assert values['rejected'] == '8' and values['errors'] == '0' and values['paired'] == '12'
    log = launcher.log_text()
    for r in expected:
        assert f'({r})' in log, r
    assert launcher.alive()
