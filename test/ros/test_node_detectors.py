"""Detector outputs as robots publish them, replayed through launched nodes with default parameters.

Class names ('person' next to a 'car'), 0-based string ids ('0' person next to '1' bicycle), a
best-effort and a reliable detections publisher, and yolo_ros's yolo_msgs/DetectionArray (built
into a private prefix; only the yolo node and its publisher process see it). Only the person box
may produce people: detection_index 0 everywhere.
"""
import os
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest

rclpy = pytest.importorskip('rclpy')
from rclpy.qos import qos_profile_sensor_data  # noqa: E402

from mipnet_ros.offline.launcher import NodeLauncher, domain_id_for, write_params_file  # noqa: E402
from mipnet_ros.ros import topics  # noqa: E402
from mipnet_ros.ros.params import qos_profile  # noqa: E402
from mipnet_ros.testing import yolo_msgs_prefix  # noqa: E402
from mipnet_ros.testing.ros_probe import STARTUP_TIMEOUT, Probe, detections_msg, image_msg, stamp_of  # noqa: E402

PERSON_BOX, OTHER_BOX = (30, 10, 90, 150), (120, 40, 180, 140)


@pytest.fixture(scope='module')
def nodes(tmp_path_factory):
    from sensor_msgs.msg import Image
    from vision_msgs.msg import Detection2DArray

    from mipnet_ros.msg import PersonKeypointsArray
    if yolo_msgs_prefix.source_dir() is None:
        pytest.skip('yolo_msgs sources not found')
    tmp = tmp_path_factory.mktemp('detectors')
    prefix = yolo_msgs_prefix.build()
    domain = domain_id_for(__file__)
    base_env = dict(os.environ, ROS_DOMAIN_ID=str(domain))
    yolo_env = yolo_msgs_prefix.environment(prefix, base_env)
    # defaults for everything detector-related: only the output thresholds are opened up
    params = write_params_file(tmp / 'params.yaml', {'instance_threshold': 0.0, 'keypoint_threshold': 0.0,
                                                     'publish_annotated': False, 'publish_markers': False})
    launchers = [NodeLauncher({'params_file': str(params), 'namespace': ns}, env=env, log_path=tmp / f'{ns}.log')
                 for ns, env in (('vis', base_env), ('yolo', yolo_env))]
    for launcher in launchers:
        launcher.start()
    probe = Probe(domain, 'probe_detectors')
    try:
        got = {ns: probe.collect(PersonKeypointsArray, f'/{ns}/{topics.KEYPOINTS}', qos_profile('reliable', 50))[0]
               for ns in ('vis', 'yolo')}
        node = probe.node
        pubs = {'image': node.create_publisher(Image, f'/vis/{topics.IMAGE}', qos_profile_sensor_data),
                'reliable': node.create_publisher(Detection2DArray, f'/vis/{topics.DETECTIONS}',
                                                  qos_profile('reliable', 10)),
                'best_effort': node.create_publisher(Detection2DArray, f'/vis/{topics.DETECTIONS}',
                                                     qos_profile('best_effort', 10))}
        deadline = time.time() + STARTUP_TIMEOUT
        while time.time() < deadline and (
                node.count_subscribers(f'/vis/{topics.IMAGE}') == 0 or
                node.count_subscribers(f'/yolo/{topics.IMAGE}') == 0 or
                node.count_subscribers(f'/vis/{topics.DETECTIONS}') == 0):
            time.sleep(0.2)
        if node.count_subscribers(f'/yolo/{topics.IMAGE}') == 0:
            pytest.fail('nodes did not subscribe:\n' + '\n'.join(x.log_text()[-3000:] for x in launchers))
        time.sleep(0.5)
        yield SimpleNamespace(probe=probe, got=got, pubs=pubs, yolo_env=yolo_env, launchers=launchers)
    finally:
        probe.close()
        for launcher in launchers:
            launcher.stop()


def replay(env, publisher: str, stamp_base: int, cls_person: str, cls_other: str):
    """Publish frames until one is answered; returns that answer."""
    got = env.got['vis']
    for k in range(20):
        stamp = stamp_base + k * 10**7
        env.pubs['image'].publish(image_msg(stamp, 200, 160))
        arr = detections_msg(stamp, [PERSON_BOX], ['p'], cls=cls_person)
        arr.detections.extend(detections_msg(stamp, [OTHER_BOX], ['x'], cls=cls_other).detections)
        env.pubs[publisher].publish(arr)
        if env.probe.wait(lambda: any(stamp_of(m) >= stamp_base for m in got), 1.0):
            break
    with env.probe.cond:
        answers = [m for m in got if stamp_of(m) >= stamp_base]
    assert answers, f'no keypoints from a {publisher} detections publisher:\n' + env.launchers[0].log_text()[-3000:]
    return answers[0]


def test_class_names_reliable_publisher_take_only_the_person(nodes):
    out = replay(nodes, 'reliable', 100 * 10**9, 'person', 'car')
    assert out.persons and {p.detection_index for p in out.persons} == {0}


def test_zero_based_ids_best_effort_publisher_never_take_class_1(nodes):
    out = replay(nodes, 'best_effort', 200 * 10**9, '0', '1')      # Isaac ROS YOLOv8: '1' is a bicycle
    assert out.persons and {p.detection_index for p in out.persons} == {0}


def test_yolo_msgs_detection_array_is_recognised_and_used(nodes):
    got = nodes.got['yolo']
    # the node subscribes to the type the detector publishes, found on the graph
    subprocess.run([sys.executable, '-m', 'mipnet_ros.testing.yolo_publisher', '--ns', '/yolo', '--frames', '40',
                    '--start-sec', '500', '--best-effort'], env=nodes.yolo_env, check=True, timeout=120,
                   capture_output=True)
    with nodes.probe.cond:
        answers = [m for m in got if stamp_of(m) >= 500 * 10**9]
    log = nodes.launchers[1].log_text()
    assert answers, 'no keypoints for yolo_msgs detections:\n' + log[-3000:]
    assert 'as yolo_msgs/msg/DetectionArray' in log
    for out in answers:
        assert out.persons and {p.detection_index for p in out.persons} == {0}   # never the bicycle
