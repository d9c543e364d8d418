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


def test_launched_pipelines_answer_their_own_camera(tmp_path):
    rclpy = pytest.importorskip('rclpy')  # noqa: F841
    from mipnet_ros.msg import PersonKeypointsArray
    from sensor_msgs.msg import Image
    from vision_msgs.msg import Detection2DArray

    from mipnet_ros.offline.launcher import NodeLauncher, domain_id_for, write_params_file
    from mipnet_ros.ros.params import qos_profile
    from mipnet_ros.testing.ros_probe import STARTUP_TIMEOUT, Probe, detections_msg, image_msg, stamp_of
    params = write_params_file(tmp_path / 'params.yaml', {'instance_threshold': 0.0, 'publish_annotated': False,
                                                          'publish_markers': False})
    cameras = tmp_path / 'cameras.yaml'
    cameras.write_text(yaml.safe_dump({'defaults': {'params_file': str(params)},
                                       'cameras': [{'namespace': 'cam_a'}, {'namespace': 'cam_b'}]}))
    domain = domain_id_for(__file__)
    launcher = NodeLauncher({'cameras_file': str(cameras), 'rviz_dir': str(tmp_path / 'rviz')},
                            env=dict(os.environ, ROS_DOMAIN_ID=str(domain)), log_path=tmp_path / 'launch.log',
                            launch_file='multi_camera.launch.py').start()
    probe = Probe(domain, 'probe_cameras')
    try:
        got = {ns: probe.collect(PersonKeypointsArray, f'/{ns}/{topics.KEYPOINTS}', qos_profile('reliable', 10))[0]
               for ns in ('cam_a', 'cam_b')}
        img = probe.node.create_publisher(Image, f'/cam_a/{topics.IMAGE}', qos_profile('reliable', 5))
        det = probe.node.create_publisher(Detection2DArray, f'/cam_a/{topics.DETECTIONS}', qos_profile('reliable', 5))
        deadline = time.time() + STARTUP_TIMEOUT
        while time.time() < deadline and (0 in (img.get_subscription_count(), det.get_subscription_count()) or
                                          probe.node.count_subscribers(f'/cam_b/{topics.IMAGE}') == 0):
            time.sleep(0.1)
        assert probe.node.count_subscribers(f'/cam_b/{topics.IMAGE}') == 1, launcher.log_text()[-3000:]
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
