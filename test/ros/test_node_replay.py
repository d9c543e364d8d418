"""The bundled bag through a launched node: `python -m mipnet_ros replay` and `python -m mipnet_ros demo`.

Checks per frame against test/data/demo_expected.json: which frames are answered (never the
image-only or detections-only ones), people counts, ids and header stamps; with the trained
bundled model (models/mipnet_w16s_n2.pth) also that every ground-truth person, the hidden ones
included, is found with OKS >= MIN_OKS. With an untrained network only the structure is checked.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

rclpy = pytest.importorskip('rclpy')
from mipnet_ros.core.resources import bundled_model_path  # noqa: E402
from mipnet_ros.offline import bag_io  # noqa: E402
from mipnet_ros.offline.launcher import NodeLauncher, domain_id_for, write_params_file  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
DEMO_BAG = REPO / 'test' / 'data' / 'demo.mcap'
DEMO_EXPECTED = REPO / 'test' / 'data' / 'demo_expected.json'
MIN_OKS = 0.5
COCO_SIGMAS = np.array([.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89]) / 10


def oks(gt, box, pred_x, pred_y, pred_v):
    """COCO OKS of one prediction against one ground-truth person (area ~ 0.53 x box area, as COCO's
    segment area is for a standing person), over the labelled keypoints."""
    gt = np.asarray(gt, float)
    x1, y1, x2, y2 = box
    area = 0.53 * (x2 - x1) * (y2 - y1)
    vis = gt[:, 2] > 0
    px, py = np.asarray(pred_x, float), np.asarray(pred_y, float)
    trusted = np.asarray(pred_v) == 2
    d2 = (np.where(trusted, px, 1e6) - gt[:, 0]) ** 2 + (np.where(trusted, py, 1e6) - gt[:, 1]) ** 2
    e = d2 / (2 * area * (2 * COCO_SIGMAS) ** 2)
    return float(np.exp(-e)[vis].mean())


def expected():
    return json.loads(DEMO_EXPECTED.read_text())


def check_outputs(keypoints_by_stamp, trained: bool):
    doc = expected()
    answered = {f['stamp_ns'] for f in doc['frames'] if f['expect_output']}
    assert set(keypoints_by_stamp) == answered, 'answered frames differ from the frames that had both inputs'
    for f in doc['frames']:
        if not f['expect_output']:
            continue
        msg = keypoints_by_stamp[f['stamp_ns']]
        assert msg.header.frame_id == doc['frame_id']
        assert (msg.image_height, msg.image_width) == tuple(f['image_size'])
        n_det = f['num_person_detections']
        people = msg.persons
        if n_det == 0:
            assert len(people) == 0, f['name']
            continue
        gt_ids = {p['det_id'] for p in f['people']}
        assert all(p.detection_id in gt_ids and 0 <= p.detection_index < n_det for p in people), f['name']
        assert len({p.id for p in people}) == len(people), f['name']
        assert len(people) <= 2 * n_det, f['name']
        if trained:
            for g in f['people']:
                best = max((oks(g['keypoints'], g['box'], p.x, p.y, p.visibility) for p in people), default=0.0)
                assert best >= MIN_OKS, f"{f['name']}: ground-truth person {g['det_id']} found with OKS {best:.2f}"
        else:
            assert len(people) >= 1, f['name']


@pytest.fixture(scope='module')
def model(tmp_path_factory):
    return bundled_model_path()


def _params(tmp: Path, trained: bool) -> Path:
    # The untrained network's scores mean nothing: publish everything it finds.
    overrides = {} if trained else {'instance_threshold': 0.0, 'keypoint_threshold': 0.0}
    return write_params_file(tmp / 'params.yaml', overrides)


def test_replay_cli_through_launched_node(tmp_path, model):
    trained = model == bundled_model_path()
    domain = domain_id_for(__file__ + 'replay')
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain))
    launcher = NodeLauncher({'model': str(model), 'params_file': str(_params(tmp_path, trained)),
                             'image_reliability': 'reliable', 'detections_reliability': 'reliable'},
                            env=env, log_path=tmp_path / 'launch.log').start()
    out = tmp_path / 'out.mcap'
    try:
        proc = subprocess.run([sys.executable, '-m', 'mipnet_ros', 'replay', '--bag', str(DEMO_BAG), '--out', str(out),
                               '--lockstep', '--record', 'all', '--wait-node', '120',
                               '--summary-json', str(tmp_path / 'summary.json')],
                              env=env, capture_output=True, text=True, timeout=240, cwd=str(REPO))
        assert proc.returncode == 0, proc.stdout + proc.stderr + launcher.log_text()[-3000:]
    finally:
        launcher.stop()
        subprocess.run(['ros2', 'daemon', 'stop'], env=env, capture_output=True, timeout=30)
    assert 'latency ms' in proc.stdout and 'p50' in proc.stdout
    summary = json.loads((tmp_path / 'summary.json').read_text())
    assert summary['frames_paired'] == sum(f['expect_output'] for f in expected()['frames'])
    assert summary['unanswered'] == [] and summary['unexpected'] == []

    # The recording is a real bag: read it back with rosbags and the mipnet_ros message definitions.
    topics = bag_io.bag_topics(str(out))
    assert topics['/keypoints'] == 'mipnet_ros/msg/PersonKeypointsArray'
    assert topics['/mipnet_node/model_info'] == 'mipnet_ros/msg/PoseModelInfo'
    by_topic = {}
    for topic, _t, _ts, msg in bag_io.read_messages(str(out)):
        by_topic.setdefault(topic, []).append(msg)
    kp = {m.header.stamp.sec * 10**9 + m.header.stamp.nanosec: m for m in by_topic['/keypoints']}
    assert len(kp) == len(by_topic['/keypoints'])            # one answer per frame
    check_outputs(kp, trained)
    assert len(by_topic['/mipnet_node/annotated_image']) == len(kp)
    assert len(by_topic['/mipnet_node/markers']) == len(kp)
    assert len(by_topic['/mipnet_node/model_info']) == 1
    assert summary['people_total'] == sum(len(m.persons) for m in kp.values())


def test_demo_command(tmp_path, model):
    trained = model == bundled_model_path()
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain_id_for(__file__ + 'demo')))
    out = tmp_path / 'demo'
    args = [sys.executable, '-m', 'mipnet_ros', 'demo', '--out', str(out)]
    if not trained:
        args += ['--model', str(model)]
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300, cwd=str(REPO))
    subprocess.run(['ros2', 'daemon', 'stop'], env=env, capture_output=True, timeout=30)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert 'node stopped with SIGINT' in proc.stdout
    n_answered = sum(f['expect_output'] for f in expected()['frames'])
    frames = sorted((out / 'frames').glob('*.png'))
    assert len(frames) == n_answered
    assert (out / 'annotated.mp4').stat().st_size > 10_000
    import cv2
    cap = cv2.VideoCapture(str(out / 'annotated.mp4'))
    assert cap.isOpened() and int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == n_answered
    cap.release()
    kp = {m.header.stamp.sec * 10**9 + m.header.stamp.nanosec: m
          for t, _ty, _ts, m in bag_io.read_messages(str(out / 'keypoints.mcap')) if t == '/keypoints'}
    check_outputs(kp, trained)
    node_log = (out / 'node.log').read_text(errors='replace')
    assert 'active' in node_log and 'Traceback' not in node_log
    check_outputs_3d(kp, out, trained, proc.stdout)


def check_outputs_3d(kp, out, trained, stdout=''):
    """The demo's 3D keypoints: one message per 2D message, same header and ids; every person that got depth
    stands at the distance the generated depth stream put one of the frame's people, and a person matched to
    a labelled one (the hidden skier included) at its own generated depth."""
    from mipnet_ros.offline.depth_truth import match_people
    from mipnet_ros.testing.make_demo_depth import person_depth_m
    kp3d = {m.header.stamp.sec * 10**9 + m.header.stamp.nanosec: m
            for t, _ty, _ts, m in bag_io.read_messages(str(out / 'keypoints.mcap')) if t == '/keypoints_3d'}
    assert sorted(kp3d) == sorted(kp), stdout
    frames = {f['stamp_ns']: f for f in expected()['frames']}
    for stamp, m in kp3d.items():
        assert m.header.frame_id == kp[stamp].header.frame_id
        assert [p.id for p in m.persons] == [p.id for p in kp[stamp].persons]
        people = frames[stamp]['people'] or frames[min(frames)]['people']
        distances = np.array([person_depth_m(p['det_id']) for p in people])
        own = match_people(kp[stamp].persons, people)
        for p, name in zip(m.persons, own):
            ok = np.asarray(p.valid, bool)
            assert np.all(np.isfinite(p.x)) and np.all(np.asarray(p.z)[~ok] == 0)
            if trained and ok.any():
                median = np.median(np.asarray(p.z)[ok])
                assert np.abs(distances - median).min() < 0.05, (stamp, p.id)
                if name:
                    assert abs(median - person_depth_m(name)) < 0.15, (stamp, p.id, name, median)
    assert (out / 'keypoints3d.png').stat().st_size > 10_000


def test_bundled_depth_bag_matches_its_generator(tmp_path):
    from mipnet_ros.testing import make_demo_depth
    out = tmp_path / 'demo_depth.mcap'
    make_demo_depth.write_depth_bag(expected(), out)
    shipped = REPO / 'test' / 'data' / 'demo_depth.mcap'
    assert [m for *_, m in bag_io.read_raw(str(out))] == [m for *_, m in bag_io.read_raw(str(shipped))]


def test_bundled_bag_is_small_and_matches_its_generator(tmp_path):
    assert DEMO_BAG.stat().st_size < 5 * 2**20
    doc = expected()
    stamps = {}
    for topic, _t, _ts, msg in bag_io.read_messages(str(DEMO_BAG)):
        stamps.setdefault(topic, []).append(msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec)
    assert stamps[doc['image_topic']] == [f['stamp_ns'] for f in doc['frames'] if f['has_image']]
    assert stamps[doc['detections_topic']] == [f['stamp_ns'] for f in doc['frames'] if f['has_detections']]
    data = REPO.parent / 'shared' / 'data'
    if not (data / 'coco' / '000000000785.jpg').exists():
        pytest.skip(f'{data} is absent: cannot regenerate the bag')
    from mipnet_ros.testing import make_demo_bag
    out = tmp_path / 'demo.mcap'
    make_demo_bag.write_bag(make_demo_bag.build_frames(make_demo_bag.load_cutout(data)), out,
                            tmp_path / 'demo_expected.json')
    assert json.loads((tmp_path / 'demo_expected.json').read_text()) == doc   # the shipped JSON is reproducible
    regenerated = [m for _t, _ty, _ts, m in bag_io.read_raw(str(out))]
    shipped = [m for _t, _ty, _ts, m in bag_io.read_raw(str(DEMO_BAG))]
    assert regenerated == shipped                                               # byte for byte
