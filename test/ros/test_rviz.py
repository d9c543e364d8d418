"""The real rviz2 shows the people: the demo bag played through the launched nodes with rviz2 on a virtual screen.

`ros2 launch mipnet_ros mipnet.launch.py rviz:=true` (in a namespace) starts the nodes and rviz2 with the
layout the launch picks; the test plays the demo frames one at a time and reads rviz2's screen (Xvfb,
Mesa's software OpenGL) while they play:
(a) the Image display shows each person's skeleton colour where the published keypoints say;
(b) the marker views show the people where the published points say: the image-plane markers in the
    2D layout's orthographic view, the 3D skeletons projected with the CameraInfo in the Camera display;
(c) rviz2 logs no warning or error (missing frame, invalid marker, incompatible QoS ...).
Two launches: the 2D layout (mipnet_node alone) and the 3D layout (depth:=true tracker:=true, the
colours by track id). Skipped when rviz2 is not built: `make test-rviz` builds it and runs this file.
MIPNET_RVIZ_SHOTS=DIR keeps the screenshots (docs/results/rviz_*.png come from here).
"""
import json
import os
import re
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List

import numpy as np
import pytest

rclpy = pytest.importorskip('rclpy')
pytestmark = pytest.mark.skipif(shutil.which('rviz2') is None, reason='rviz2 is not built: `make test-rviz` builds '
                                'it (about 20 minutes once) and runs this test')

from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rosidl_runtime_py.utilities import get_message  # noqa: E402

from mipnet_ros.core.skeleton import get_skeleton  # noqa: E402
from mipnet_ros.offline import bag_io  # noqa: E402
from mipnet_ros.offline.launcher import NodeLauncher, domain_id_for  # noqa: E402
from mipnet_ros.offline.replay import header_stamp_ns  # noqa: E402
from mipnet_ros.ros import topics  # noqa: E402
from mipnet_ros.ros.convert import raw_to_bgr  # noqa: E402
from mipnet_ros.ros.params import qos_profile  # noqa: E402
from mipnet_ros.ros.person_record import read_people  # noqa: E402
from mipnet_ros.ros.visualize import person_color  # noqa: E402
from mipnet_ros.testing import rviz_screen  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / 'test' / 'data' / 'demo.mcap'
DEMO_DEPTH = REPO / 'test' / 'data' / 'demo_depth.mcap'
NS = '/rviz_test'
STARTUP_TIMEOUT = 240.0      # model load + rviz2 start on a loaded 2-core machine
FRAME_TIMEOUT = 120.0        # one frame through the nodes
PRIME_RETRY = 5.0            # a priming frame not answered by then is sent again
DRAW_TIMEOUT = 90.0          # rviz2 shows it
MIN_HITS = 0.8               # share of skeleton sample points that show the skeleton's colour
# ... and clearly more than the same points shifted off the skeleton (the control). The control level depends on
# the colour (a tracked person's follows its track id, new every run) and on how close the limbs lie on screen:
# measured 0.26-0.33 in the 2D layout, 0.39-0.53 in the 3D layout's smaller Image display, with hits 0.98-1.0.
# A misplaced or mis-scaled overlay brings the hits down to the control level.
MIN_MARGIN = 0.3
# The 3D lines end in shaded joint spheres (0.05 m, config/keypoints3d.yaml) whose colour is not the line's:
# segments shorter than this (the face) are left out of the 3D check; the others are sampled outside the spheres.
MIN_SEGMENT_3D = 0.12
# Over the camera image the 3D lines also pass behind spheres and one another (measured 0.44-0.92 of the samples
# on the demo bag while the control samples 12 px off the skeleton hit 0.14-0.27): the 3D camera view must show
# the colours on the projected skeleton clearly more often than beside it. A wrong frame or projection puts
# both near the control level.
MIN_HITS_3D = 0.35
MIN_MARGIN_3D = 0.2
CONTROL_SHIFT_PX = 12.0
# the layouts (rviz/*.rviz): background of the 3D view, and the 2D layout's orthographic view
BACKGROUND_RGB = (36, 40, 48)
ORTHO_SCALE = 900.0
ORTHO_CENTRE = (0.32, -0.24)   # in mipnet_view_2d (y up = image up)
MARKER_SCALE = 0.001           # config/mipnet.yaml marker_scale


@dataclass
class Session:
    name: str
    depth: bool
    tracker: bool
    checks: Dict[int, Dict[str, float]] = field(default_factory=dict)   # stamp -> check -> share of hits
    failures: List[str] = field(default_factory=list)
    log: str = ''                   # the launch's output up to the stop
    frames_shown: int = 0


def _bgr(color) -> tuple:
    return (color.b * 255.0, color.g * 255.0, color.r * 255.0)


def _line_markers(arr):
    return [m for m in arr.markers if m.type == m.LINE_LIST and m.action == m.ADD and len(m.points) >= 2]


def _score(shot, groups, shift=CONTROL_SHIFT_PX):
    """groups: [(screen points (N, 2), colour BGR)] -> (share of hits, share of hits shifted off the lines)."""
    hits = control = total = 0
    for pts, colour in groups:
        if len(pts) == 0:
            continue
        hits += int(rviz_screen.colour_hits(shot, pts, colour).sum())
        control += int(rviz_screen.colour_hits(shot, pts + np.array([shift, shift]), colour).sum())
        total += len(pts)
    if total == 0:
        return float('nan'), float('nan')
    return hits / total, control / total


def _ok(score, min_hits: float = MIN_HITS, min_margin: float = MIN_MARGIN) -> bool:
    hits, control = score
    return hits >= min_hits and hits - control >= min_margin


def _ok_view(view: str, score) -> bool:
    if view == 'camera_view_3d':
        return _ok(score, MIN_HITS_3D, MIN_MARGIN_3D)
    return _ok(score)


def _passes(scores) -> bool:
    return bool(scores) and all(_ok_view(k, v) for k, v in scores.items())


def _run(session: Session, tmp: Path, shots_dir: Path) -> Session:
    screen = rviz_screen.VirtualDisplay().start()
    domain = domain_id_for('rviz_' + session.name)
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain), **screen.env())
    # reliable inputs: a best-effort reader beside a drawing rviz2 loses arrays, and the frame is never answered
    args = {'namespace': NS, 'image_reliability': 'reliable', 'detections_reliability': 'reliable',
            'rviz': 'true', 'log_level': 'info',
            'tracker': str(session.tracker).lower(), 'depth': str(session.depth).lower()}
    launcher = NodeLauncher(args, env=env, log_path=tmp / f'launch_{session.name}.log')
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=domain)
    node = rclpy.create_node('rviz_test_player', context=ctx)
    executor = SingleThreadedExecutor(context=ctx)
    executor.add_node(node)
    lock = threading.Condition()
    got: Dict[str, Dict[int, object]] = {}

    source = f'{NS}/{"mipnet_tracker" if session.tracker else "mipnet_node"}'
    keypoints_topic = topics.TRACKED_KEYPOINTS if session.tracker else topics.KEYPOINTS
    wanted = {'keypoints': (f'{NS}/{keypoints_topic}', topics.KEYPOINTS_TYPE),
              'annotated': (f'{source}/annotated_image', topics.IMAGE_TYPE)}
    if session.depth:
        wanted['markers_3d'] = (f'{NS}/{topics.MARKERS_3D}', topics.MARKERS_TYPE)
    else:
        wanted['markers'] = (f'{source}/markers', topics.MARKERS_TYPE)

    def keep(name):
        def cb(msg):
            stamp_src = msg.markers[0].header.stamp if name.startswith('markers') else msg.header.stamp
            with lock:
                got.setdefault(name, {})[stamp_src.sec * 10**9 + stamp_src.nanosec] = msg
                lock.notify_all()
        return cb

    subs = [node.create_subscription(get_message(ty), topic, keep(name), qos_profile('reliable', 100))
            for name, (topic, ty) in wanted.items()]
    diagnostics: Dict[str, str] = {}       # node -> its last status, for the message when a frame is not answered

    def keep_diagnostics(msg):
        for status in msg.status:
            values = ', '.join(f'{kv.key}={kv.value}' for kv in status.values
                               if kv.key.endswith(('received', 'processed', 'published', 'dropped', 'reasons'))
                               or kv.key in ('errors', 'state', 'people'))
            diagnostics[status.name] = f'{status.message} [{values}]'
    node.create_subscription(get_message('diagnostic_msgs/msg/DiagnosticArray'), topics.DIAGNOSTICS,
                             keep_diagnostics, 10)
    inputs = {f'{NS}/{topics.IMAGE}': topics.IMAGE_TYPE, f'{NS}/{topics.DETECTIONS}': topics.DETECTIONS_TYPE}
    if session.depth:
        inputs.update({f'{NS}/{topics.DEPTH_IMAGE}': topics.IMAGE_TYPE,
                       f'{NS}/{topics.CAMERA_INFO}': topics.CAMERA_INFO_TYPE})
    pubs = {t: node.create_publisher(get_message(ty), t, qos_profile('reliable', 10)) for t, ty in inputs.items()}
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()

    # the demo frames: per stamp the raw messages to send and what the test needs to read the screen
    frames: Dict[int, Dict[str, object]] = {}
    for topic, msgtype, _t, raw in bag_io.read_raw(str(DEMO)):
        kind = f'{NS}/{topics.IMAGE}' if msgtype == topics.IMAGE_TYPE else f'{NS}/{topics.DETECTIONS}'
        frames.setdefault(header_stamp_ns(raw), {})[kind] = raw
    for topic, msgtype, _t, msg in bag_io.read_messages(str(DEMO), ['/camera/image_raw']):
        frames[msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec]['picture'] = raw_to_bgr(
            msg.encoding, msg.height, msg.width, msg.step, msg.is_bigendian, msg.data)
    if session.depth:
        for topic, msgtype, _t, raw in bag_io.read_raw(str(DEMO_DEPTH)):
            kind = f'{NS}/{topics.CAMERA_INFO}' if msgtype == topics.CAMERA_INFO_TYPE else f'{NS}/{topics.DEPTH_IMAGE}'
            frames.setdefault(header_stamp_ns(raw), {})[kind] = raw
        for topic, msgtype, _t, msg in bag_io.read_messages(str(DEMO_DEPTH)):
            if msgtype == topics.CAMERA_INFO_TYPE:
                frames[msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec]['K'] = list(msg.k)
    played = [s for s in sorted(frames)
              if f'{NS}/{topics.IMAGE}' in frames[s] and f'{NS}/{topics.DETECTIONS}' in frames[s]]

    views = {}
    try:
        launcher.start()
        rviz_topics = [wanted['annotated'][0], wanted['markers_3d' if session.depth else 'markers'][0]]
        if session.depth:
            rviz_topics.append(f'{NS}/{topics.IMAGE}')

        def ready():
            return (all(p.get_subscription_count() > 0 for p in pubs.values())
                    and all(s.get_publisher_count() > 0 for s in subs)
                    # rviz2 subscribed what it shows (besides this test, and besides the nodes for the image)
                    and all(node.count_subscribers(t) >= (2 if t != f'{NS}/{topics.IMAGE}' else 2 + session.tracker)
                            for t in rviz_topics))
        deadline = time.time() + STARTUP_TIMEOUT
        while time.time() < deadline and not ready() and launcher.alive() and 'has died' not in launcher.log_text():
            time.sleep(0.2)
        if not ready():
            pytest.fail(f'{session.name}: nodes and rviz2 not connected after {STARTUP_TIMEOUT:.0f} s\n'
                        + launcher.log_text()[-4000:])

        def stuck(what: str) -> str:
            return (f'{session.name}: {what}; received {sorted((n, len(v)) for n, v in got.items())}; diagnostics:\n'
                    + '\n'.join(f'  {k}: {v}' for k, v in sorted(diagnostics.items())) + '\n'
                    + launcher.log_text()[-4000:])
        _prime(pubs, inputs, frames[played[0]], played[0], wanted, got, lock, stuck)
        skeleton_edges = None
        for stamp in played:
            frame = frames[stamp]
            _publish(pubs, frame)
            with lock:
                if not lock.wait_for(lambda: all(stamp in got.get(n, {}) for n in wanted), timeout=FRAME_TIMEOUT):
                    missing = [n for n in wanted if stamp not in got.get(n, {})]
                    pytest.fail(stuck(f'no {missing} for stamp {stamp} within {FRAME_TIMEOUT:.0f} s'))
                kp_msg = got['keypoints'][stamp]
                markers = got['markers_3d' if session.depth else 'markers'][stamp]
            people = read_people(kp_msg)
            if not people:
                continue
            if skeleton_edges is None:
                skeleton_edges = [tuple(e) for e in get_skeleton(kp_msg.skeleton).edges]
            shot, scores = _wait_for_screen(session, screen, frame, people, skeleton_edges, markers, views)
            session.checks[stamp] = scores
            session.frames_shown += int(_passes(scores))
            import cv2
            cv2.imwrite(str(shots_dir / f'rviz_{session.name}_{stamp // 10**8 % 100:02d}.png'), shot)
    finally:
        session.log = launcher.log_text()   # what rviz2 said while the frames played (its stop is not checked)
        launcher.stop()
        screen.stop()
        executor.shutdown(timeout_sec=2.0)
        spinner.join(timeout=10.0)
        node.destroy_node()
        rclpy.try_shutdown(context=ctx)
    return session


def _publish(pubs, frame) -> None:
    """One frame's input messages, depth and CameraInfo before the image and the detections that trigger it."""
    for topic in (f'{NS}/{topics.DEPTH_IMAGE}', f'{NS}/{topics.CAMERA_INFO}', f'{NS}/{topics.IMAGE}',
                  f'{NS}/{topics.DETECTIONS}'):
        if topic in frame:
            pubs[topic].publish(frame[topic])


def _prime(pubs, types, frame, stamp, wanted, got, lock, stuck):
    """The first frame, stamped earlier, sent until every output answers it: the nodes are connected to the test
    once ready() holds, but the node -> tracker -> 3D links may still be discovering each other, and a message
    sent before a link exists is never delivered (measured: the node answered, the tracker received nothing)."""
    from rclpy.serialization import deserialize_message
    messages = {t: deserialize_message(frame[t], get_message(types[t])) for t in pubs if t in frame}
    deadline = time.time() + FRAME_TIMEOUT
    for k in range(1000):
        prime = stamp - 10**9 + k * 10**6          # 1 s before the first frame, a new stamp per try
        for msg in messages.values():
            msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(prime, 10**9)
        _publish(pubs, messages)
        with lock:
            if lock.wait_for(lambda: all(prime in got.get(n, {}) for n in wanted), timeout=PRIME_RETRY):
                return
        if time.time() > deadline:
            pytest.fail(stuck(f'no answer to {k + 1} priming frames within {FRAME_TIMEOUT:.0f} s'))


def _wait_for_screen(session, screen, frame, people, edges, markers, views):
    """Screenshots until rviz2 shows this frame's people (every check passes) or DRAW_TIMEOUT; the last one."""
    deadline = time.time() + DRAW_TIMEOUT
    scores: Dict[str, tuple] = {}
    while True:
        shot = screen.screenshot()
        scores = _read_screen(session, shot, frame, people, edges, markers, views)
        if _passes(scores) or time.time() > deadline:
            return shot, scores
        time.sleep(0.5)


def _read_screen(session, shot, frame, people, edges, markers, views):
    if 'view' not in views:
        view = rviz_screen.find_view(shot, BACKGROUND_RGB)
        pics = rviz_screen.find_pictures(shot, frame['picture'], 2 if session.depth else 1,
                                         exclude=[view] if view else [])
        if view is None or len(pics) < (2 if session.depth else 1):
            return {}
        if session.depth:   # the Camera display shows the plain image, the Image display the annotated one
            import cv2
            gray = cv2.cvtColor(frame['picture'], cv2.COLOR_BGR2GRAY)
            edges_img = cv2.Canny(gray, 100, 200)

            # the annotated picture has the boxes and labels drawn in: more strong edges than the plain one
            def drawn(p):
                r = p.rect
                patch = cv2.cvtColor(shot[r.y:r.y + r.h, r.x:r.x + r.w], cv2.COLOR_BGR2GRAY)
                ref = cv2.resize(edges_img, (patch.shape[1], patch.shape[0]))
                return float(cv2.Canny(patch, 100, 200).mean() - ref.mean())
            pics.sort(key=drawn, reverse=True)
            views['camera'] = pics[1]
        views['view'], views['image'] = view, pics[0]
    scores = {}
    image = views['image']
    groups = []
    for i, p in enumerate(people):
        ok = p.visibility == 2
        seg = np.array([p.keypoints[k] for a, b in edges if ok[a] and ok[b] for k in (a, b)], np.float64)
        groups.append((image.to_screen(rviz_screen.segment_samples(seg.reshape(-1, 2))), person_color(i, p.track_id)))
    scores['image_view'] = _score(shot, groups)
    lines = _line_markers(markers)
    if session.depth:
        cam = views['camera']
        groups = []
        for m in lines:
            seg = np.array([[q.x, q.y, q.z] for q in m.points]).reshape(-1, 2, 3)
            seg = seg[np.linalg.norm(seg[:, 1] - seg[:, 0], axis=1) >= MIN_SEGMENT_3D].reshape(-1, 3)
            samples = rviz_screen.project(rviz_screen.segment_samples(seg), frame['K'])
            groups.append((cam.to_screen(samples), _bgr(m.color)))
        scores['camera_view_3d'] = _score(shot, groups)
    else:
        groups = []
        for m in lines:
            pts = rviz_screen.segment_samples(np.array([[q.x, q.y] for q in m.points]))
            xy = np.stack([pts[:, 0], -pts[:, 1]], axis=1)     # mipnet_view_2d: the camera frame turned about x
            groups.append((rviz_screen.ortho_to_screen(views['view'], ORTHO_SCALE, ORTHO_CENTRE, xy), _bgr(m.color)))
        scores['marker_view_2d'] = _score(shot, groups)
    return scores


@pytest.fixture(scope='module', params=[Session('2d', depth=False, tracker=False),
                                        Session('3d', depth=True, tracker=True)], ids=lambda s: s.name)
def session(request, tmp_path_factory):
    shots = Path(os.environ.get('MIPNET_RVIZ_SHOTS') or tmp_path_factory.mktemp('rviz_shots'))
    shots.mkdir(parents=True, exist_ok=True)
    return _run(request.param, tmp_path_factory.mktemp('rviz_' + request.param.name), shots)


def _report(session) -> str:
    return json.dumps({str(k): {n: [round(x, 2) for x in v] for n, v in c.items()} for k, c in session.checks.items()})


def test_image_view_shows_the_skeleton_colours_at_the_keypoints(session):
    assert session.checks, 'no frame with people was shown'
    for stamp, scores in session.checks.items():
        assert _ok(scores.get('image_view', (0.0, 1.0))), f'{session.name} stamp {stamp}: {_report(session)}'


def test_marker_views_show_the_people_where_the_points_project(session):
    key = 'camera_view_3d' if session.depth else 'marker_view_2d'
    assert session.checks, 'no frame with people was shown'
    for stamp, scores in session.checks.items():
        assert _ok_view(key, scores.get(key, (0.0, 1.0))), \
            f'{session.name} stamp {stamp}: {_report(session)}'


def test_rviz_logs_no_warning_or_error(session):
    lines = [ln for ln in session.log.splitlines()
             if re.match(r'^\[(rviz2|mipnet_rviz_frames)-\d+\]', ln) and re.search(r'\[(WARN|ERROR)\]', ln)]
    died = [ln for ln in session.log.splitlines() if re.search(r'\[ERROR\] \[(rviz2|mipnet_rviz_frames)-\d+\]', ln)]
    assert not lines and not died, '\n'.join(lines + died)
    assert re.search(r'\[rviz2-\d+\]', session.log), 'rviz2 wrote nothing: did it start?'
