"""The bad-input corpus (mipnet_ros/testing/bad_inputs.py) replayed through launched nodes over DDS.

Two nodes are launched with the real launch file: one on raw sensor_msgs/Image, one on
CompressedImage. The corpus bag is generated in a temporary folder (never committed) and each
message is published as its recorded CDR bytes, so the faults rclpy itself would not let us
build (step/size mismatch, absurd dimensions) reach the node exactly as a broken driver would
send them. Frames are played in lockstep (each pair waits for its answer, or a short grace
period when no answer is due), except the flood kind, which is sent at 10x the measured
processing rate.

Checked against test/data/bad_inputs.json (the manifest the generator writes): the nodes never
die; every answered frame carries the exact image header and size and persons only from the
boxes the manifest allows (exactly N per allowed box: thresholds are 0 and OKS-NMS is off, so
nothing else can remove a person); rejected frames get no answer; warnings are rate-limited;
/diagnostics counts every fault class exactly.
"""
import json
import math
import os
import re
import subprocess
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest

rclpy = pytest.importorskip('rclpy')
from mipnet_ros.core.model.untrained import write_untrained_checkpoint  # noqa: E402
from mipnet_ros.offline import bag_io  # noqa: E402
from mipnet_ros.offline.launcher import NodeLauncher, domain_id_for, write_params_file  # noqa: E402
from mipnet_ros.offline.replay import header_stamp_ns  # noqa: E402
from mipnet_ros.ros.params import qos_profile  # noqa: E402
from mipnet_ros.testing import bad_inputs  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
INSTANCES = 2                     # the random test model's N: every allowed box yields exactly N persons
NODES = {'raw': ('raw', 'mipnet_raw'), 'compressed': ('cmp', 'mipnet_cmp')}   # transport -> (namespace, name)
REJECT_GRACE_S = 0.15             # lockstep pause after a pair that must not be answered
# Pause between the messages of one kind. Arrival order across two topics is only defined when
# the node has taken the first message before the second one arrives: an executor with both
# subscriptions ready may serve them in either order (that is ROS, not a node fault).
MESSAGE_GAP_S = 0.03
ANSWER_TIMEOUT_S = 60.0
WARN_THROTTLE_S = 5.0             # the node's warning throttle (node.LOG_THROTTLE_SEC)
KINDS = bad_inputs.build_corpus()


def frames_by_stamp():
    """(transport, stamp) -> (kind, frame) for every frame of the manifest."""
    out = {}
    for k in KINDS:
        for f in k.frames:
            key = (k.transport, f.stamp_ns)
            assert key not in out, f'stamp {key} used twice ({out.get(key, ("?",))[0].kind}, {k.kind})'
            out[key] = (k, f)
    return out


# ------------------------------------------------------------------------------------------ manifest
def test_manifest_is_generated_and_committed():
    committed = json.loads((REPO / 'test' / 'data' / 'bad_inputs.json').read_text())
    assert committed == json.loads(bad_inputs.json_text(bad_inputs.manifest(KINDS))), \
        'test/data/bad_inputs.json is stale: run python -m mipnet_ros.testing.bad_inputs'
    assert len(committed) >= 40
    names = [k['kind'] for k in committed]
    assert len(set(names)) == len(names)
    for k in committed:
        assert k['expected'] in ('output', 'partial', 'rejected') and k['why'] and k['frames'], k['kind']
        assert all(f['expected'] in ('output', 'partial', 'rejected') for f in k['frames']), k['kind']
    frames_by_stamp()                                    # stamps are unique per transport


def test_manifest_covers_the_issue_list():
    names = {k.kind for k in KINDS}
    for needed in ('unsupported_encoding', 'step_smaller_than_row', 'data_shorter_than_step_x_height',
                   'zero_size_image', 'one_by_one_image', 'huge_8000x8000_mono8', 'compressed_truncated',
                   'compressed_garbage', 'box_nan', 'box_inf', 'box_negative_size', 'box_zero_size',
                   'box_outside_frame', 'box_partly_outside', 'boxes_1000', 'non_person_classes',
                   'empty_detection_array', 'detections_without_image', 'detections_stamp_future',
                   'detections_stamp_past', 'duplicate_image_stamp', 'out_of_order_stamps',
                   'image_without_detections', 'frame_id_change', 'flood_10x'):
        assert needed in names, needed
    # Every sensor_msgs encoding the node does not take is in the corpus (checked against the header
    # file of the installed sensor_msgs when it can be found).
    encodings = {f.note for k in KINDS if k.kind == 'unsupported_encoding' for f in k.frames}
    header = None
    for prefix in os.environ.get('AMENT_PREFIX_PATH', '').split(os.pathsep) + [str(REPO / '.venv')]:
        for cand in Path(prefix).glob('include/sensor_msgs/sensor_msgs/image_encodings.hpp'):
            header = cand
    if header is not None:
        declared = set(re.findall(r'const char \w+\[\] = "([^"]+)"', header.read_text()))
        supported = {e for e, _ in bad_inputs.SUPPORTED_ENCODINGS}
        assert declared - supported <= encodings, sorted(declared - supported - encodings)
    assert len(encodings) >= 40


def test_bag_matches_manifest(tmp_path):
    bag = tmp_path / 'bad.mcap'
    bad_inputs.write_bag(bad_inputs.build_corpus(huge=False), bag)
    assert bag.stat().st_size < 2_000_000
    msgs = list(bag_io.read_raw(str(bag)))
    corpus = bad_inputs.build_corpus(huge=False)
    expected = [(topic, m.stamp_ns) for _i, topic, _t, m in bad_inputs.iter_messages(corpus)]
    assert [(t, header_stamp_ns(raw)) for t, _ty, _ts, raw in msgs] == expected


# ------------------------------------------------------------------------------------------ replay
class Player:
    """Publishes the corpus to the two nodes and records what comes back (keypoints, diagnostics)."""

    def __init__(self, domain: int):
        from diagnostic_msgs.msg import DiagnosticArray
        from rclpy.executors import SingleThreadedExecutor
        from sensor_msgs.msg import CompressedImage, Image
        from vision_msgs.msg import Detection2DArray

        from mipnet_ros.msg import PersonKeypointsArray
        self.ctx = rclpy.Context()
        rclpy.init(context=self.ctx, domain_id=domain)
        self.node = rclpy.create_node('bad_input_player', context=self.ctx)
        self.cond = threading.Condition()
        self.outputs = defaultdict(list)          # (transport, stamp) -> [msg]
        self.arrival = {}                         # (transport, stamp) -> time
        self.diag = {}                            # node name -> (time, {key: value}, level, message)
        self.pubs = {}
        reliable = qos_profile('reliable', 100)
        for transport, (ns, _name) in NODES.items():
            img_type = Image if transport == 'raw' else CompressedImage
            img_topic = f'/{ns}/image' + ('' if transport == 'raw' else '/compressed')
            self.pubs[transport] = (self.node.create_publisher(img_type, img_topic, qos_profile('reliable', 10)),
                                    self.node.create_publisher(Detection2DArray, f'/{ns}/detections',
                                                               qos_profile('reliable', 10)))
            self.node.create_subscription(PersonKeypointsArray, f'/{ns}/keypoints',
                                          self._on_keypoints(transport), reliable)
        self.node.create_subscription(DiagnosticArray, '/diagnostics', self._on_diag, 50)
        self.executor = SingleThreadedExecutor(context=self.ctx)
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()

    def _on_keypoints(self, transport):
        def cb(msg):
            key = (transport, msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec)
            with self.cond:
                self.outputs[key].append(msg)
                self.arrival.setdefault(key, time.time())
                self.cond.notify_all()
        return cb

    def _on_diag(self, msg):
        with self.cond:
            for s in msg.status:
                name = s.name.split(':')[0].strip()
                self.diag[name] = (time.time(), {kv.key: kv.value for kv in s.values}, s.level, s.message)
            self.cond.notify_all()

    def wait(self, predicate, timeout):
        with self.cond:
            return self.cond.wait_for(predicate, timeout=timeout)

    def ready(self, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if all(p.get_subscription_count() > 0 for pair in self.pubs.values() for p in pair) and all(
                    self.node.count_publishers(f'/{ns}/keypoints') > 0 for ns, _ in NODES.values()):
                time.sleep(0.3)
                return True
            time.sleep(0.1)
        return False

    def change_state(self, transport, transition_id):
        from lifecycle_msgs.msg import Transition
        from lifecycle_msgs.srv import ChangeState
        ns, name = NODES[transport]
        client = self.node.create_client(ChangeState, f'/{ns}/{name}/change_state')
        assert client.wait_for_service(timeout_sec=20)
        fut = client.call_async(ChangeState.Request(transition=Transition(id=transition_id)))
        deadline = time.time() + 20
        while not fut.done() and time.time() < deadline:
            time.sleep(0.02)
        return fut.done() and fut.result().success

    def close(self):
        self.executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.ctx)


def _play(player, bag, frames):
    """Lockstep/flood playback; returns per-transport publication counts and the flood figures."""
    order = bad_inputs.kind_of_message(KINDS)
    kinds = {k.kind: k for k in KINDS}
    sent = defaultdict(set)                     # (transport, stamp) -> {'image', 'detections'}
    completed = set()
    counts = Counter()
    latencies = []
    flood = {'sent': [], 'interval': None}
    raw_msgs = list(bag_io.read_raw(str(bag)))
    assert len(raw_msgs) == len(order)
    i = 0
    while i < len(raw_msgs):
        kind = kinds[order[i]]
        transport = kind.transport
        pub_img, pub_det = player.pubs[transport]
        if kind.pacing == 'flood':
            # 10x the measured processing rate: no waiting between frames
            interval = (sorted(latencies)[len(latencies) // 2] if latencies else 0.05) / 10.0
            flood['interval'] = interval
            j = i
            while j < len(raw_msgs) and order[j] == kind.kind:
                topic, _ty, _t, raw = raw_msgs[j]
                side = 'image' if topic == bad_inputs.TOPICS[transport][0] else 'detections'
                (pub_img if side == 'image' else pub_det).publish(raw)
                counts[(transport, side)] += 1
                if side == 'detections':
                    flood['sent'].append(header_stamp_ns(raw))
                    time.sleep(interval)
                j += 1
            last = (transport, flood['sent'][-1])
            assert player.wait(lambda: last in player.outputs, ANSWER_TIMEOUT_S), \
                'the last flood frame was not answered'
            time.sleep(0.5)
            i = j
            continue
        topic, _ty, _t, raw = raw_msgs[i]
        side = 'image' if topic == bad_inputs.TOPICS[transport][0] else 'detections'
        stamp = header_stamp_ns(raw)
        key = (transport, stamp)
        t_pub = time.time()
        (pub_img if side == 'image' else pub_det).publish(raw)
        counts[(transport, side)] += 1
        sent[key].add(side)
        if len(sent[key]) == 2 and key not in completed:
            completed.add(key)
            _kind, frame = frames[key]
            if frame.expected == 'rejected':
                time.sleep(REJECT_GRACE_S)
            else:
                ok = player.wait(lambda: key in player.outputs, ANSWER_TIMEOUT_S)
                assert ok, f'{kind.kind}: no answer for stamp {stamp} within {ANSWER_TIMEOUT_S} s'
                latencies.append(player.arrival[key] - t_pub)
        else:
            time.sleep(MESSAGE_GAP_S)
        i += 1
    time.sleep(0.5)
    return counts, flood


@pytest.fixture(scope='module')
def replay(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('bad_inputs')
    bag = tmp / 'bad_inputs.mcap'
    bad_inputs.write_bag(KINDS, bag)
    model = write_untrained_checkpoint(tmp / 'random.pth', instances=INSTANCES)
    params = write_params_file(tmp / 'params.yaml', {
        'instance_threshold': 0.0, 'keypoint_threshold': 0.0, 'oks_nms_threshold': 1.0,
        'max_boxes': bad_inputs.MAX_BOXES, 'detection_score_threshold': bad_inputs.SCORE_THRESHOLD,
        'unlabeled_is_person': False,
        'person_class_ids': ['person', '0', '1'], 'cache_size': 30, 'stamp_slop_sec': 0.0,
        'qos.image.reliability': 'reliable', 'qos.image.depth': 10, 'qos.detections.reliability': 'reliable',
        'stale_frame_age_sec': 3600.0,
        'publish_annotated': False, 'publish_markers': False})
    domain = domain_id_for(__file__)
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain))
    launchers = {}
    for transport, (ns, name) in NODES.items():
        launchers[transport] = NodeLauncher(
            {'model': str(model), 'params_file': str(params), 'namespace': ns, 'node_name': name,
             'use_compressed': 'true' if transport == 'compressed' else 'false', 'log_level': 'info'},
            env=env, log_path=tmp / f'{name}.log').start()
    player = Player(domain)
    result = {'launchers': launchers, 'player': player}
    try:
        assert player.ready(120), 'nodes did not come up:\n' + '\n'.join(
            launcher.log_text()[-2000:] for launcher in launchers.values())
        t0 = time.time()
        counts, flood = _play(player, bag, frames_by_stamp())
        result.update(counts=counts, flood=flood, duration=time.time() - t0)
        result['alive'] = {t: launcher.alive() for t, launcher in launchers.items()}
        # Deactivate: the pairing caches are flushed, so every orphan is counted; then read /diagnostics.
        from lifecycle_msgs.msg import Transition
        t_deact = time.time()
        for transport in NODES:
            assert player.change_state(transport, Transition.TRANSITION_DEACTIVATE)
        names = [name for _ns, name in NODES.values()]
        assert player.wait(lambda: all(n in player.diag and player.diag[n][0] > t_deact + 0.2
                                       and player.diag[n][1].get('state') == 'inactive' for n in names), 15), \
            f'no diagnostics after deactivate: {player.diag}'
        result['diag'] = {t: dict(player.diag[NODES[t][1]][1]) for t in NODES}
        result['outputs'] = dict(player.outputs)
        yield result
    finally:
        player.close()
        result['exit'] = {t: launcher.stop() for t, launcher in launchers.items()}
        subprocess.run(['ros2', 'daemon', 'stop'], env=env, capture_output=True, timeout=30)
        result['logs'] = {t: launcher.log_text() for t, launcher in launchers.items()}


def test_nodes_never_die(replay):
    assert replay['alive'] == {'raw': True, 'compressed': True}
    for transport, launcher in replay['launchers'].items():
        text = launcher.log_text()
        assert 'Traceback' not in text, text[-3000:]
        assert 'process has died' not in text, text[-3000:]


def test_every_valid_frame_is_answered_with_its_header(replay):
    outputs = replay['outputs']
    problems = []
    for (transport, stamp), (kind, f) in frames_by_stamp().items():
        got = outputs.get((transport, stamp), [])
        if f.expected == 'rejected':
            if got:
                problems.append(f'{kind.kind} {f.note}: rejected frame {stamp} was answered')
            continue
        if f.may_drop and not got:
            continue
        if len(got) != 1:
            problems.append(f'{kind.kind} {f.note}: {len(got)} answers for {stamp} (want exactly 1)')
            continue
        msg = got[0]
        if (msg.header.stamp.sec, msg.header.stamp.nanosec) != (stamp // 10**9, stamp % 10**9) \
                or msg.header.frame_id != f.frame_id:
            problems.append(f'{kind.kind}: header {msg.header} != stamp {stamp} frame_id {f.frame_id!r}')
        if [msg.image_height, msg.image_width] != f.image_size:
            problems.append(f'{kind.kind}: image size {[msg.image_height, msg.image_width]} != {f.image_size}')
        persons = Counter(p.detection_index for p in msg.persons)
        want = Counter({i: INSTANCES for i in f.person_boxes})
        if persons != want:
            problems.append(f'{kind.kind} {f.note}: persons per detection {dict(persons)} != {dict(want)}')
        for p in msg.persons:
            if not (math.isfinite(p.score) and all(math.isfinite(v) for v in (
                    p.bbox.center.position.x, p.bbox.center.position.y, p.bbox.size_x, p.bbox.size_y))):
                problems.append(f'{kind.kind}: non-finite person score/box {p.score} {p.bbox}')
    unexpected = [k for k in outputs if k not in frames_by_stamp()]
    assert not unexpected, f'answers for stamps that were never a frame: {unexpected}'
    assert not problems, '\n'.join(problems)


def test_flood_keeps_the_newest_and_counts_drops(replay):
    flood = replay['flood']
    answered = [s for s in flood['sent'] if ('raw', s) in replay['outputs']]
    assert flood['sent'][-1] in answered
    dropped = len(flood['sent']) - len(answered)
    # How many frames a node answers depends on the machine's speed; a node that queues answers all of them.
    assert dropped >= 1, f'{len(answered)} of {len(flood["sent"])} flood frames answered at ' \
                         f'{flood["interval"] * 1e3:.1f} ms intervals: the node queued'
    assert int(replay['diag']['raw']['dropped']) == dropped


def test_diagnostics_count_every_fault(replay):
    expected = {t: Counter() for t in NODES}
    for k in KINDS:
        expected[k.transport].update(k.counters)
    outputs = replay['outputs']
    for transport in NODES:
        d = replay['diag'][transport]
        got = {key: int(d[key]) for key in ('rejected_images', 'unmatched_images', 'unmatched_detections', 'errors',
                                            'images_received', 'detection_arrays_received', 'frames_processed')}
        want = {'rejected_images': expected[transport]['rejected_images'],
                'unmatched_images': expected[transport]['unmatched_images'],
                'unmatched_detections': expected[transport]['unmatched_detections'], 'errors': 0,
                'images_received': replay['counts'][(transport, 'image')],
                'detection_arrays_received': replay['counts'][(transport, 'detections')],
                'frames_processed': sum(len(v) for (t, _s), v in outputs.items() if t == transport)}
        assert got == want, f'{transport}: diagnostics {d}'
    # Bad boxes are counted too (the image part of the frame is still answered).
    assert 'rejected_boxes' in replay['diag']['raw'], \
        f'diagnostics have no rejected_boxes counter: {sorted(replay["diag"]["raw"])}'
    assert int(replay['diag']['raw']['rejected_boxes']) == expected['raw']['rejected_boxes']


def test_warnings_are_counted_and_rate_limited(replay):
    """Each fault class warns, but a stream of bad frames does not flood the log."""
    rejected = sum(k.counters.get('rejected_images', 0) for k in KINDS if k.transport == 'raw')
    log = replay['launchers']['raw'].log_text()
    image_warnings = [line for line in log.splitlines() if 'WARN' in line and 'image rejected' in line]
    limit = math.ceil(replay['duration'] / WARN_THROTTLE_S) + 1
    assert 1 <= len(image_warnings) <= limit < rejected, (len(image_warnings), limit, rejected)
    box_warnings = [line for line in log.splitlines()
                    if 'WARN' in line and 'box' in line.lower() and 'rejected' in line.lower()]
    assert 1 <= len(box_warnings) <= limit, f'{len(box_warnings)} warnings about rejected boxes (want 1..{limit})'
    # Orphans (a detection array without its image or the reverse) are counted (test above) but not warned
    # about while other frames pair: a detector slower than the camera leaves orphans too. The warning for
    # stamps that never pair is tested in test/ros/test_input_health.py.
