"""Several cameras from one YAML: the camera list, the per-namespace RViz layout, and a launched pair
of pipelines that each answer only their own camera."""
import os
import time
from pathlib import Path

import pytest
import yaml

from mipnet_ros.ros import topics
from mipnet_ros.ros.cameras import load_cameras, parse_cameras, rviz_config_for

REPO = Path(__file__).resolve().parents[2]


def test_example_file_parses_with_defaults_and_topics():
    cams = load_cameras(REPO / 'config' / 'cameras.yaml')
    assert [c.namespace for c in cams] == ['/front', '/rear']
    assert cams[0].image == '/front_camera/color/image_raw' and cams[0].launch_args['detections_type'] == 'auto'
    assert cams[1].launch_args['use_compressed'] == 'true' and cams[1].launch_args['namespace'] == '/rear'
    assert cams[0].topic(topics.MARKERS) == '/front/mipnet_node/markers'


def test_topics_default_under_the_namespace_and_errors_are_named():
    (cam,) = parse_cameras({'cameras': [{'namespace': 'robot/left'}]})
    assert (cam.image, cam.detections) == ('/robot/left/image', '/robot/left/detections')
    with pytest.raises(ValueError, match='used twice'):
        parse_cameras({'cameras': [{'namespace': 'a'}, {'namespace': '/a'}]})
    with pytest.raises(ValueError, match='ROS name'):
        parse_cameras({'cameras': [{'namespace': '2cam'}]})
    with pytest.raises(ValueError, match="list under 'cameras'"):
        parse_cameras({'cameras': []})


def test_rviz_layout_follows_the_namespace():
    template = (REPO / 'rviz' / 'mipnet.rviz').read_text()
    (cam,) = parse_cameras({'cameras': [{'namespace': 'front'}]})
    doc = yaml.safe_load(rviz_config_for(template, cam))
    shown = {d['Name']: d['Topic']['Value'] for d in doc['Visualization Manager']['Displays'] if 'Topic' in d}
    assert set(shown.values()) == {'/front/mipnet_node/markers', '/front/mipnet_node/annotated_image'}


def test_hri_on_two_cameras_is_refused_with_one_reason():
    with pytest.raises(ValueError, match=r'hri is true for 2 cameras \(/a, /b\).*one camera only'):
        parse_cameras({'defaults': {'hri': True}, 'cameras': [{'namespace': 'a'}, {'namespace': 'b'}]})
    cams = parse_cameras({'cameras': [{'namespace': 'a', 'hri': True}, {'namespace': 'b', 'hri': 'false'}]})
    assert [c.launch_args.get('hri') for c in cams] == ['true', 'false']


def _parameter(probe, node: str, name: str):
    from rclpy.parameter import parameter_value_to_python
    from rclpy.parameter_client import AsyncParameterClient
    client = AsyncParameterClient(probe.node, node)      # its service clients go with the probe node
    assert client.wait_for_services(timeout_sec=30.0), f'no parameter services on {node}'
    future = client.get_parameters([name])
    deadline = time.time() + 30.0
    while not future.done() and time.time() < deadline:
        time.sleep(0.05)
    assert future.done(), f'{node} did not answer for {name}'
    return parameter_value_to_python(future.result().values[0])


def _endpoints(probe, topic: str, publishers: bool) -> set:
    node = probe.node
    infos = (node.get_publishers_info_by_topic if publishers else node.get_subscriptions_info_by_topic)(topic)
    return {f"{i.node_namespace.rstrip('/')}/{i.node_name}" for i in infos}


def test_launched_cameras_keep_their_own_settings_and_answer_their_own_camera(tmp_path):
    """cam_a asks for a tracker, 3D keypoints, device cpu and reliable detections on its own topics; cam_b names
    only its namespace.
    cam_b must get none of cam_a's settings, and each pipeline answers only its own camera."""
    rclpy = pytest.importorskip('rclpy')  # noqa: F841
    from sensor_msgs.msg import Image
    from vision_msgs.msg import Detection2DArray

    from mipnet_ros.msg import PersonKeypointsArray
    from mipnet_ros.offline.launcher import NodeLauncher, domain_id_for, write_params_file
    from mipnet_ros.ros.params import qos_profile
    from mipnet_ros.testing.ros_probe import STARTUP_TIMEOUT, Probe, detections_msg, image_msg, stamp_of
    params = write_params_file(tmp_path / 'params.yaml', {'instance_threshold': 0.0, 'publish_annotated': False,
                                                          'publish_markers': False})
    cameras = tmp_path / 'cameras.yaml'
    cameras.write_text(yaml.safe_dump({'defaults': {'params_file': str(params)}, 'cameras': [
        {'namespace': 'cam_a', 'image': '/cam_a_sensor/color', 'detections': '/cam_a_sensor/people',
         'tracker': True, 'depth': True, 'device': 'cpu', 'detections_reliability': 'reliable'},
        {'namespace': 'cam_b'}]}))
    domain = domain_id_for(__file__)
    launcher = NodeLauncher({'cameras_file': str(cameras), 'rviz_dir': str(tmp_path / 'rviz')},
                            env=dict(os.environ, ROS_DOMAIN_ID=str(domain)), log_path=tmp_path / 'launch.log',
                            launch_file='multi_camera.launch.py').start()
    probe = Probe(domain, 'probe_cameras')
    try:
        got = {ns: probe.collect(PersonKeypointsArray, f'/{ns}/{topics.KEYPOINTS}', qos_profile('reliable', 10))[0]
               for ns in ('cam_a', 'cam_b')}
        img = probe.node.create_publisher(Image, '/cam_a_sensor/color', qos_profile('reliable', 5))
        det = probe.node.create_publisher(Detection2DArray, '/cam_a_sensor/people', qos_profile('reliable', 5))
        want = {'/cam_a/mipnet_node', '/cam_a/mipnet_tracker', '/cam_a/mipnet_keypoints3d', '/cam_b/mipnet_node'}
        deadline = time.time() + STARTUP_TIMEOUT
        while time.time() < deadline and (0 in (img.get_subscription_count(), det.get_subscription_count()) or
                                          probe.node.count_subscribers(f'/cam_b/{topics.IMAGE}') == 0 or
                                          not want <= _nodes(probe)):
            time.sleep(0.1)
        log = launcher.log_text()[-3000:]
        assert {n for n in _nodes(probe) if n.startswith('/cam_')} == want, log
        # parameters: cam_a's device override, cam_b the params file's value
        assert _parameter(probe, '/cam_a/mipnet_node', 'device') == 'cpu'
        assert _parameter(probe, '/cam_b/mipnet_node', 'device') == 'auto'
        assert _parameter(probe, '/cam_a/mipnet_node', 'qos.detections.reliability') == 'reliable'
        assert _parameter(probe, '/cam_b/mipnet_node', 'qos.detections.reliability') == 'best_effort'
        # remaps: each node on its own camera's topics
        assert _endpoints(probe, '/cam_a_sensor/color', publishers=False) == {
            '/cam_a/mipnet_node', '/cam_a/mipnet_tracker'}
        assert _endpoints(probe, f'/cam_b/{topics.IMAGE}', publishers=False) == {'/cam_b/mipnet_node'}
        assert _endpoints(probe, f'/cam_a/{topics.KEYPOINTS}', publishers=True) == {'/cam_a/mipnet_node'}
        assert '/cam_a/mipnet_tracker' in _endpoints(probe, f'/cam_a/{topics.KEYPOINTS}', publishers=False)
        assert _endpoints(probe, f'/cam_a/{topics.TRACKED_KEYPOINTS}', publishers=True) == {'/cam_a/mipnet_tracker'}
        assert '/cam_a/mipnet_keypoints3d' in _endpoints(probe, f'/cam_a/{topics.TRACKED_KEYPOINTS}',
                                                         publishers=False)
        assert _endpoints(probe, f'/cam_b/{topics.TRACKED_KEYPOINTS}', publishers=True) == set()
        for k in range(10):
            stamp = (800 + k) * 10**9
            img.publish(image_msg(stamp, 160, 120))
            det.publish(detections_msg(stamp, [(20, 10, 80, 110)], ['p']))
            if probe.wait(lambda: bool(got['cam_a']), 2.0):
                break
        assert got['cam_a'] and stamp_of(got['cam_a'][0]) >= 800 * 10**9, launcher.log_text()[-3000:]
        time.sleep(1.0)
        assert not got['cam_b']                    # the other camera's pipeline saw nothing of it
    finally:
        probe.close()
        launcher.stop()
    written = sorted(p.name for p in (tmp_path / 'rviz').iterdir())
    assert written == ['cam_a.rviz', 'cam_b.rviz']
    assert '/cam_b/mipnet_node/markers' in (tmp_path / 'rviz' / 'cam_b.rviz').read_text()


def _nodes(probe) -> set:
    return {f"{ns.rstrip('/')}/{name}" for name, ns in probe.node.get_node_names_and_namespaces()}


@pytest.mark.parametrize('entry, reason', [
    ({'namespace': 'cam_b', 'trakcer': True}, 'camera /cam_b: trakcer is not an argument of mipnet.launch.py'),
    ({'namespace': 'cam_b', 'hri': True}, 'hri is true for 2 cameras (/cam_a, /cam_b)'),
])
def test_a_wrong_cameras_file_stops_the_launch_with_its_reason(tmp_path, entry, reason):
    pytest.importorskip('launch_ros')
    import subprocess

    from mipnet_ros.offline.launcher import domain_id_for
    cameras = tmp_path / 'cameras.yaml'
    cameras.write_text(yaml.safe_dump({'cameras': [{'namespace': 'cam_a', 'hri': True}, entry]}))
    out = subprocess.run(['ros2', 'launch', 'mipnet_ros', 'multi_camera.launch.py', f'cameras_file:={cameras}'],
                         capture_output=True, text=True, timeout=120,
                         env=dict(os.environ, ROS_DOMAIN_ID=str(domain_id_for(__file__ + 'wrong'))))
    text = out.stdout + out.stderr
    assert out.returncode != 0 and reason in text, text[-2000:]
    assert 'process started' not in text                      # no node of either camera was started
    assert 'Traceback' not in text
