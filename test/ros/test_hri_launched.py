"""mipnet_keypoints3d as a ROS4HRI body provider, launched, read back the way libhri reads it.

Generated scene (known depths and masks): person A at 2.0 m in front, person B at 3.5 m behind it (the
person MIPNet finds with lambda = 1, half hidden). The CameraInfo is latched (transient local) and
published before the node starts; the keypoints come from a best-effort publisher. A probe subscribes
like libhri: /humans/bodies/tracked with the system default QoS, then per tracked body its roi,
skeleton2d and cropped, and /tf as a TF listener does (reliable, volatile, depth 100).
"""
import os
import signal
import time

import numpy as np
import pytest
import yaml

rclpy = pytest.importorskip('rclpy')
hri_msgs = pytest.importorskip('hri_msgs.msg')
tf2_msgs = pytest.importorskip('tf2_msgs.msg')
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_system_default  # noqa: E402

from mipnet_ros.core.person_box import own_box  # noqa: E402
from mipnet_ros.offline.launcher import NodeLauncher, domain_id_for  # noqa: E402
from mipnet_ros.ros import topics  # noqa: E402
from mipnet_ros.ros.convert import xyxy_to_bbox2d  # noqa: E402
from mipnet_ros.testing.depth_scenes import H, K, ScenePerson, W, figure, render  # noqa: E402

FRAME = 'camera_color_optical_frame'
DEPTHS = {'ta': 2.0, 'tb': 3.5}
TF_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=100, reliability=ReliabilityPolicy.RELIABLE,
                    durability=DurabilityPolicy.VOLATILE)


def scene():
    a = ScenePerson(figure(1, (300, 250), 300), DEPTHS['ta'], rank=0)
    b = ScenePerson(figure(2, (310, 240), 280), DEPTHS['tb'], rank=1)
    return render([a, b], [300, 280], wall=6.0)


def stamp(msg, ns):
    msg.header.stamp.sec, msg.header.stamp.nanosec = ns // 10**9, ns % 10**9
    msg.header.frame_id = FRAME
    return msg


def messages(sc, image, ns):
    from sensor_msgs.msg import Image

    from mipnet_ros.msg import PersonKeypoints, PersonKeypointsArray
    kp = PersonKeypointsArray(image_width=W, image_height=H, skeleton='coco17')
    crop = (200.0, 60.0, 420.0, 440.0)      # the one detection box both people come from
    for (tid, rank), p in zip((('ta', 0), ('tb', 1)), sc.people):
        vis = np.full(17, 2, np.uint8)
        box = own_box(p.keypoints, vis, crop, (H, W))
        kp.persons.append(PersonKeypoints(
            id=f'd0#{rank}', track_id=tid, detection_id='d0', instance_index=rank, score=0.8,
            x=p.keypoints[:, 0].tolist(), y=p.keypoints[:, 1].tolist(), keypoint_scores=[0.9] * 17,
            visibility=vis.tolist(), bbox=xyxy_to_bbox2d(box)))
    depth = Image(height=H, width=W, encoding='16UC1', step=W * 2)
    depth.data = np.rint(sc.depth * 1000).astype('<u2').tobytes()
    img = Image(height=H, width=W, encoding='bgr8', step=W * 3)
    img.data = image.tobytes()
    return stamp(kp, ns), stamp(depth, ns), stamp(img, ns)


def spin_until(ex, pred, timeout):
    end = time.time() + timeout
    while time.time() < end and not pred():
        ex.spin_once(timeout_sec=0.05)
    return pred()


def quat_rotate(q, v):
    from scipy.spatial.transform import Rotation
    return Rotation.from_quat([q.x, q.y, q.z, q.w]).apply(v)


@pytest.fixture
def probe():
    domain = domain_id_for('hri_launched')
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=domain)
    node = rclpy.create_node('libhri_like_probe', context=ctx)
    ex = SingleThreadedExecutor(context=ctx)
    ex.add_node(node)
    yield domain, node, ex
    ex.shutdown(timeout_sec=1.0)
    node.destroy_node()
    rclpy.try_shutdown(context=ctx)


def test_bodies_roi_skeleton_cropped_and_tf_as_libhri_sees_them(probe, tmp_path):
    from sensor_msgs.msg import CameraInfo, Image

    from mipnet_ros.msg import PersonKeypoints3DArray, PersonKeypointsArray
    domain, node, ex = probe
    sc = scene()
    image = np.random.default_rng(7).integers(0, 256, (H, W, 3), dtype=np.uint8)

    # a driver that latches its CameraInfo once, before the node exists
    latched = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)
    pub_info = node.create_publisher(CameraInfo, '/cam/info', latched)
    pub_info.publish(stamp(CameraInfo(width=W, height=H, distortion_model='plumb_bob', d=[0.0] * 5, k=K), 0))
    best_effort = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.BEST_EFFORT)
    reliable = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=5, reliability=ReliabilityPolicy.RELIABLE)
    pub_kp = node.create_publisher(PersonKeypointsArray, '/kp', best_effort)
    pub_depth = node.create_publisher(Image, '/cam/depth', reliable)
    pub_img = node.create_publisher(Image, '/cam/image', reliable)

    repo_cfg = os.path.join(os.path.dirname(__file__), '..', '..', 'config', 'keypoints3d.yaml')
    doc = yaml.safe_load(open(repo_cfg).read())
    params = doc['/**']['ros__parameters']
    params['camera_info']['max_age_sec'] = 0.0           # the documented latched CameraInfo set-up
    params['qos']['image']['reliability'] = 'reliable'    # a full-size image over best effort may lose fragments
    params['qos']['depth']['reliability'] = 'reliable'
    params['qos']['keypoints']['reliability'] = 'best_effort'   # hears the best-effort keypoints publisher
    params['hri']['body_timeout_sec'] = 5.0
    (tmp_path / 'p.yaml').write_text(yaml.safe_dump(doc))
    launcher = NodeLauncher({'hri': 'true', 'depth': 'true', 'keypoints': '/kp', 'depth_image': '/cam/depth',
                             'camera_info': '/cam/info', 'image': '/cam/image',
                             'keypoints3d_params_file': str(tmp_path / 'p.yaml')},
                            env=dict(os.environ, ROS_DOMAIN_ID=str(domain)), log_path=tmp_path / 'node.log',
                            launch_file='keypoints3d.launch.py').start()
    try:
        got = {'tracked': [], 'tf': [], '3d': []}
        node.create_subscription(hri_msgs.IdsList, topics.HRI_BODIES_TRACKED, got['tracked'].append,
                                 qos_profile_system_default)
        node.create_subscription(tf2_msgs.TFMessage, '/tf', got['tf'].append, TF_QOS)
        node.create_subscription(PersonKeypoints3DArray, '/' + topics.KEYPOINTS_3D, got['3d'].append, reliable)
        bodies = {}

        def follow():   # libhri: a body's subscriptions are made when its id appears on /tracked
            for ids in got['tracked']:
                for bid in ids.ids:
                    if bid not in bodies:
                        bodies[bid] = {leaf: [] for leaf in ('roi', 'skeleton2d', 'cropped')}
                        for leaf, typ in (('roi', hri_msgs.NormalizedRegionOfInterest2D),
                                          ('skeleton2d', hri_msgs.Skeleton2D), ('cropped', Image)):
                            node.create_subscription(typ, topics.hri_body_topic(bid, leaf), bodies[bid][leaf].append,
                                                     qos_profile_system_default)

        assert spin_until(ex, lambda: not launcher.alive() or (
            pub_kp.get_subscription_count() and pub_depth.get_subscription_count()
            and pub_img.get_subscription_count() and node.count_publishers('/' + topics.KEYPOINTS_3D)), 60), \
            launcher.log_text()[-3000:]
        spin_until(ex, lambda: False, 1.0)
        for k in range(1, 13):
            ns = k * 10**9
            kp, depth, img = messages(sc, image, ns)
            pub_img.publish(img)
            pub_depth.publish(depth)
            spin_until(ex, lambda: False, 0.1)
            pub_kp.publish(kp)
            spin_until(ex, lambda: False, 0.3)
            follow()
        assert spin_until(ex, lambda: all(bodies.get(b) and all(bodies[b].values()) for b in ('bta', 'btb'))
                          and len(got['tf']) >= 2 and got['3d'], 10), (
            {b: {k: len(v) for k, v in d.items()} for b, d in bodies.items()}, len(got['tf']),
            launcher.log_text()[-3000:])

        assert got['tracked'][-1].ids == ['bta', 'btb']
        last_kp = messages(sc, image, 12 * 10**9)[0]
        for bid, person in (('bta', last_kp.persons[0]), ('btb', last_kp.persons[1])):
            roi = bodies[bid]['roi'][-1]
            x1, y1 = person.bbox.center.position.x - person.bbox.size_x / 2, person.bbox.center.position.y \
                - person.bbox.size_y / 2
            x2, y2 = x1 + person.bbox.size_x, y1 + person.bbox.size_y
            np.testing.assert_allclose([roi.xmin, roi.ymin, roi.xmax, roi.ymax],
                                       [(x1 + 0.5) / W, (y1 + 0.5) / H, (x2 + 0.5) / W, (y2 + 0.5) / H], atol=1e-4)
            sk = bodies[bid]['skeleton2d'][-1]
            nose = sk.skeleton[hri_msgs.Skeleton2D.NOSE]
            assert nose.x == pytest.approx((person.x[0] + 0.5) / W, abs=1e-5) and nose.c == pytest.approx(0.9)
            crop = bodies[bid]['cropped'][-1]
            assert crop.encoding == 'bgr8' and crop.header.frame_id == FRAME
            stamps = {(m.header.stamp.sec, m.header.stamp.nanosec) for m in bodies[bid]['skeleton2d']}
            assert (crop.header.stamp.sec, crop.header.stamp.nanosec) in stamps     # the keypoints' image header
            pixels = np.frombuffer(bytes(crop.data), np.uint8).reshape(crop.height, crop.step)[:, :crop.width * 3]
            pixels = pixels.reshape(crop.height, crop.width, 3)
            c0, r0 = int(np.floor(x1 + 0.5)), int(np.floor(y1 + 0.5))
            assert abs(crop.width - (x2 - x1)) <= 2 and abs(crop.height - (y2 - y1)) <= 2
            assert np.array_equal(pixels, image[r0:r0 + crop.height, c0:c0 + crop.width])

        frames = {}
        for msg in got['tf']:
            for t in msg.transforms:
                frames[t.child_frame_id] = t
        assert set(frames) == {'body_bta', 'body_btb'}
        for bid, tid in (('bta', 'ta'), ('btb', 'tb')):
            t = frames[f'body_{bid}']
            assert t.header.frame_id == FRAME
            assert t.transform.translation.z == pytest.approx(DEPTHS[tid], abs=0.15)
            forward, up = quat_rotate(t.transform.rotation, [1, 0, 0]), quat_rotate(t.transform.rotation, [0, 0, 1])
            assert forward[2] < -0.9 and up[1] < -0.9        # facing the camera, upright in the image
        b3d = got['3d'][-1].persons[1]
        z = np.array(b3d.z)[np.array(b3d.valid)]
        assert len(z) >= 4 and np.abs(z - DEPTHS['tb']).max() <= 0.15   # the hidden person on its own depth

        # shutdown: the node publishes an empty tracked list before it goes
        launcher.proc.send_signal(signal.SIGINT)
        assert spin_until(ex, lambda: got['tracked'][-1].ids == [], 20), (
            [(m.header.stamp.sec, list(m.ids)) for m in got['tracked'][-4:]], launcher.log_text()[-2000:])
    finally:
        launcher.stop()
