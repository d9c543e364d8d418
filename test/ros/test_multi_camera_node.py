"""mipnet_multi_node: several cameras' mipnet_node pipelines in one process with one model.

In one process: each camera's node answers its own camera on its own topics with the image header copied,
the model is built once, and the cameras' frames share network runs. The plan refuses camera settings one
shared process cannot honour. Launched: multi_camera.launch.py shared_model:=true starts one process.
"""
import os
import threading
import time

import pytest
import yaml

from mipnet_ros.ros.cameras import parse_cameras
from mipnet_ros.ros.multi_camera_node import plan_cameras

WAIT_SEC = 120.0


def test_plan_keeps_topics_per_camera_and_the_model_shared():
    cams = parse_cameras({'defaults': {'model': 'm.onnx', 'device': 'cpu'}, 'cameras': [
        {'namespace': 'front', 'image': '/f/img', 'use_compressed': True, 'tracker': True},
        {'namespace': 'rear', 'image_reliability': 'reliable', 'detections_reliability': 'reliable',
         'detections_type': 'vision_msgs'}]})
    params_file, model, plans = plan_cameras(cams)
    assert params_file == '' and model == {'model': 'm.onnx', 'device': 'cpu'}
    assert [p.namespace for p in plans] == ['/front', '/rear']
    assert ('image', '/f/img') in plans[0].remaps and ('image/compressed', '/f/img/compressed') in plans[0].remaps
    assert ('detections', '/rear/detections') in plans[1].remaps and ('keypoints', '/rear/keypoints') in plans[1].remaps
    assert plans[0].overrides == {'image_transport': 'compressed'}
    assert plans[1].overrides == {'qos.image.reliability': 'reliable', 'qos.detections.reliability': 'reliable',
                                  'detections_type': 'vision_msgs'}


def test_plan_refuses_a_second_model_and_per_camera_model_settings():
    with pytest.raises(ValueError, match=r"camera /b: device 'cuda:0' differs from 'cpu'"):
        plan_cameras(parse_cameras({'cameras': [{'namespace': 'a', 'device': 'cpu'},
                                                {'namespace': 'b', 'device': 'cuda:0'}]}))
    with pytest.raises(ValueError, match='camera /a: max_boxes cannot be set per camera'):
        plan_cameras(parse_cameras({'cameras': [{'namespace': 'a', 'max_boxes': 3}]}))


def test_cameras_in_one_process_answer_their_own_camera_with_one_model(one_torch_thread):
    rclpy = pytest.importorskip('rclpy')
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.lifecycle import TransitionCallbackReturn
    from sensor_msgs.msg import Image
    from test_node_topics import detections_msg, image_msg, stamp_of
    from vision_msgs.msg import Detection2DArray

    from mipnet_ros.msg import PersonKeypointsArray
    from mipnet_ros.offline.launcher import domain_id_for
    from mipnet_ros.ros.multi_camera_node import SharedModel, build_nodes
    from mipnet_ros.ros.params import qos_profile
    cams = parse_cameras({'cameras': [{'namespace': 'cam_a'}, {'namespace': 'cam_b', 'image': '/b_sensor/image'}]})
    params_file, model, plans = plan_cameras(cams)
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=domain_id_for(__file__))
    shared = SharedModel()
    built = []
    nodes = build_nodes(plans, params_file, {**model, 'instance_threshold': 0.0, 'warmup': False,
                                             'publish_annotated': False, 'publish_markers': False},
                        shared, context=ctx)
    real_get = shared.get
    shared.get = lambda p, build: real_get(p, lambda: built.append(1) or build())
    probe = rclpy.create_node('probe_multi', context=ctx)
    executor = SingleThreadedExecutor(context=ctx)
    thread = None
    got = {'cam_a': [], 'cam_b': []}
    try:
        for node in nodes:
            assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS
            assert node.trigger_activate() == TransitionCallbackReturn.SUCCESS
        assert len(built) == 1 and nodes[0]._estimator is nodes[1]._estimator
        for ns in got:
            probe.create_subscription(PersonKeypointsArray, f'/{ns}/keypoints', got[ns].append,
                                      qos_profile('reliable', 10))
        pubs = {ns: (probe.create_publisher(Image, topic, qos_profile('reliable', 5)),
                     probe.create_publisher(Detection2DArray, f'/{ns}/detections', qos_profile('reliable', 5)))
                for ns, topic in (('cam_a', '/cam_a/image'), ('cam_b', '/b_sensor/image'))}
        for node in nodes + [probe]:
            executor.add_node(node)
        thread = threading.Thread(target=executor.spin, daemon=True)
        thread.start()
        deadline = time.time() + WAIT_SEC
        while time.time() < deadline and not all(p.get_subscription_count() for pair in pubs.values() for p in pair):
            time.sleep(0.05)
        boxes = {'cam_a': [(20, 10, 80, 110), (90, 10, 150, 115)], 'cam_b': [(40, 5, 120, 118)]}
        for k in range(3):
            for i, (ns, (img, det)) in enumerate(pubs.items()):
                stamp = (900 + k) * 10**9 + i
                msg = image_msg(stamp, 160, 120, frame_id=ns)
                img.publish(msg)
                det.publish(detections_msg(stamp, boxes[ns], [f'{ns}{j}' for j in range(len(boxes[ns]))]))
            while time.time() < deadline and not (len(got['cam_a']) > k and len(got['cam_b']) > k):
                time.sleep(0.02)
        for i, ns in enumerate(('cam_a', 'cam_b')):
            assert len(got[ns]) == 3, (ns, len(got[ns]))
            assert [stamp_of(m) for m in got[ns]] == [(900 + k) * 10**9 + i for k in range(3)]
            assert {m.header.frame_id for m in got[ns]} == {ns}
            assert all({p.detection_id for p in m.persons} <= {f'{ns}{j}' for j in range(2)} for m in got[ns])
            assert all(len(m.persons) >= len(boxes[ns]) for m in got[ns])
        while time.time() < deadline and any(n.stats.processed < 3 for n in nodes):
            time.sleep(0.02)                       # a frame counts as processed just after it is published
        for node in nodes:
            assert node.stats.processed == 3 and node.stats.errors == 0
        assert shared.shared.stats.calls == 6
    finally:
        executor.shutdown(timeout_sec=2.0)
        if thread is not None:
            thread.join(5.0)
        for node in nodes:
            node.stop_processing()
            node.destroy_node()
        probe.destroy_node()
        rclpy.try_shutdown(context=ctx)


def test_the_launch_starts_one_process_for_all_cameras(tmp_path):
    pytest.importorskip('launch_ros')
    from test_node_topics import Probe

    from mipnet_ros.msg import PersonKeypointsArray
    from mipnet_ros.offline.launcher import NodeLauncher, domain_id_for, write_params_file
    from mipnet_ros.ros.params import qos_profile
    params = write_params_file(tmp_path / 'params.yaml', {'instance_threshold': 0.0})
    cameras = tmp_path / 'cameras.yaml'
    cameras.write_text(yaml.safe_dump({'shared_model': True, 'defaults': {'params_file': str(params)},
                                       'cameras': [{'namespace': 'cam_a', 'tracker': True}, {'namespace': 'cam_b'}]}))
    domain = domain_id_for(__file__ + 'launch')
    launcher = NodeLauncher({'cameras_file': str(cameras)}, env=dict(os.environ, ROS_DOMAIN_ID=str(domain)),
                            log_path=tmp_path / 'launch.log', launch_file='multi_camera.launch.py').start()
    probe = Probe(domain, 'probe_shared')
    try:
        probe.collect(PersonKeypointsArray, '/cam_b/keypoints', qos_profile('reliable', 10))
        want = {'/cam_a/mipnet_node', '/cam_b/mipnet_node', '/cam_a/mipnet_tracker'}
        deadline = time.time() + WAIT_SEC

        def names():
            return {f"{ns.rstrip('/')}/{n}" for n, ns in probe.node.get_node_names_and_namespaces()}
        while time.time() < deadline and not want <= names():
            time.sleep(0.1)
        assert {n for n in names() if n.startswith('/cam_')} == want, launcher.log_text()[-3000:]
        log = launcher.log_text()
        assert log.count('process started') == 2, log[-3000:]      # mipnet_multi_node and cam_a's tracker
        assert 'mipnet_multi_node' in log
    finally:
        probe.close()
        launcher.stop()
