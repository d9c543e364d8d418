"""`python -m mipnet_ros replay`: play a bag's images and detections to a running mipnet_node
through real DDS, record what the node publishes, and summarise it.

    python -m mipnet_ros replay --bag test/data/demo.mcap --out out/keypoints.mcap [--lockstep]

Messages go out in recorded order as the recorded bytes (so with their header stamps), paced by the
bag's log times (`--rate`, 0 = as fast as possible). With `--lockstep` each frame waits for the node's
answer (or `--frame-timeout`) before the next is sent, so the node's newest-frame policy drops none:
what tests and the demo want. Latency = arrival of the node's keypoints - publication of the frame's
last input.
"""
from __future__ import annotations

import argparse
import json
import struct
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from mipnet_ros.core.stats import percentile_summary
from mipnet_ros.ros import topics
from mipnet_ros.ros.convert import stamp_to_ns

RECORDABLE = {  # name -> (topic relative to the node, type, relative to the node's private namespace)
    'keypoints': (topics.KEYPOINTS, topics.KEYPOINTS_TYPE, False),
    'annotated': (topics.private_leaf(topics.ANNOTATED_IMAGE), topics.IMAGE_TYPE, True),
    'markers': (topics.private_leaf(topics.MARKERS), topics.MARKERS_TYPE, True),
    'model_info': (topics.private_leaf(topics.MODEL_INFO), topics.MODEL_INFO_TYPE, True),
    'keypoints_3d': (topics.KEYPOINTS_3D, topics.KEYPOINTS_3D_TYPE, False),
    'markers_3d': (topics.MARKERS_3D, topics.MARKERS_TYPE, False),
}
FROM_DEPTH = ('keypoints_3d', 'markers_3d')   # mipnet_keypoints3d's outputs: in "all" only with --extra-bag


@dataclass
class ReplayOptions:
    bag: str
    out: Optional[str] = None
    rate: float = 1.0
    lockstep: bool = False
    frame_timeout: float = 10.0
    image_topic: Optional[str] = None
    detections_topic: Optional[str] = None
    namespace: str = '/'
    node_name: str = topics.POSE_NODE
    publish_image_topic: Optional[str] = None
    publish_detections_topic: Optional[str] = None
    keypoints_topic: Optional[str] = None
    record: Sequence[str] = ('keypoints', 'model_info')
    wait_node: float = 30.0
    drain: float = 3.0
    storage: str = 'mcap'
    compress: bool = True           # zstd MCAP chunks (standard; ros2 bag and rosbags read them)
    force: bool = False
    domain_id: Optional[int] = None
    quiet: bool = False
    # a second bag (e.g. aligned depth + CameraInfo): each message is published on its recorded topic
    # just before the image with the same header stamp
    extra_bag: Optional[str] = None


@dataclass
class ReplaySummary:
    images_published: int = 0
    detections_published: int = 0
    frames_paired: int = 0                     # stamps for which both an image and detections were sent
    outputs: int = 0                           # keypoints messages received
    people_total: int = 0
    people_per_stamp: Dict[int, int] = field(default_factory=dict)
    unanswered: List[int] = field(default_factory=list)   # paired stamps without keypoints
    unexpected: List[int] = field(default_factory=list)   # keypoints with a stamp we did not pair
    latency_ms: Dict[str, float] = field(default_factory=dict)
    recorded: Dict[str, int] = field(default_factory=dict)
    out: Optional[str] = None
    model_info: Dict[str, object] = field(default_factory=dict)

    def text(self) -> str:
        lat = self.latency_ms
        lines = [f'published {self.images_published} images and {self.detections_published} detection arrays '
                 f'({self.frames_paired} complete frames)',
                 f'received {self.outputs} keypoints messages with {self.people_total} people'
                 f' ({len(self.unanswered)} frames unanswered, {len(self.unexpected)} unexpected stamps)']
        if lat:
            lines.append('latency ms: ' + ', '.join(f'{k} {v:.1f}' for k, v in lat.items()))
        if self.out:
            lines.append(f'recorded {sum(self.recorded.values())} messages to {self.out}: '
                         + ', '.join(f'{t} {n}' for t, n in self.recorded.items()))
        return '\n'.join(lines)


def _join(ns: str, name: str) -> str:
    ns = '/' + ns.strip('/') if ns.strip('/') else ''
    return f'{ns}/{name}'


def header_stamp_ns(raw: bytes) -> int:
    """Header stamp of a CDR-serialised message whose first field is std_msgs/Header.

    Reading the 8 bytes directly keeps the replay from deserialising every image.
    """
    little = raw[1] == 1
    sec, nanosec = struct.unpack('<iI' if little else '>iI', raw[4:12])
    return sec * 1_000_000_000 + nanosec


def _pick_topic(in_bag: Dict[str, str], wanted: Optional[str], types: Sequence[str], what: str) -> str:
    if wanted:
        if wanted not in in_bag:
            raise SystemExit(f'{what} topic {wanted!r} is not in the bag (topics: {sorted(in_bag)})')
        return wanted
    found = [t for t, ty in in_bag.items() if ty in types]
    if len(found) != 1:
        raise SystemExit(f'found {len(found)} {what} topics of type {"/".join(types)} in the bag {found}: '
                         f'name one with --{what}-topic')
    return found[0]


def run_replay(opts: ReplayOptions) -> ReplaySummary:
    """Play the bag to the node and record its outputs (see the module docstring)."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.serialization import deserialize_message
    from rosidl_runtime_py.utilities import get_message

    from mipnet_ros.offline import bag_io
    from mipnet_ros.ros.params import qos_profile

    in_bag = bag_io.bag_topics(opts.bag)
    img_topic = _pick_topic(in_bag, opts.image_topic, topics.IMAGE_TYPES, 'image')
    det_topic = _pick_topic(in_bag, opts.detections_topic, (topics.DETECTIONS_TYPE,), 'detections')
    img_type = in_bag[img_topic]
    compressed = img_type.endswith('CompressedImage')
    pub_img_topic = opts.publish_image_topic or _join(opts.namespace,
                                                      topics.IMAGE_COMPRESSED if compressed else topics.IMAGE)
    pub_det_topic = opts.publish_detections_topic or _join(opts.namespace, topics.DETECTIONS)
    record = {}
    for name in opts.record:
        rel, msgtype, private = RECORDABLE[name]
        topic = _join(_join(opts.namespace, opts.node_name) if private else opts.namespace, rel)
        if name == 'keypoints' and opts.keypoints_topic:
            topic = opts.keypoints_topic
        record[name] = (topic, msgtype)
    kp_topic = opts.keypoints_topic or record.get('keypoints', (_join(opts.namespace, topics.KEYPOINTS),))[0]
    record.setdefault('keypoints', (kp_topic, topics.KEYPOINTS_TYPE))

    summary = ReplaySummary(out=opts.out)
    KeypointsArray = get_message(topics.KEYPOINTS_TYPE)
    lock = threading.Condition()
    received: Dict[int, float] = {}     # stamp -> wall time of arrival (first keypoints message)
    completed: Dict[int, float] = {}    # stamp -> wall time the pair's last input was published
    sent: Dict[str, set] = {'image': set(), 'detections': set()}
    model_info: Dict[str, object] = {}
    counts: Dict[str, int] = {}         # messages received per recorded output

    writer = None
    if opts.out:
        writer = bag_io.BagWriter(opts.out, storage=opts.storage, overwrite=opts.force)
        if opts.compress and (opts.storage == 'mcap' or str(opts.out).endswith('.mcap')):
            writer.compress()
        writer.__enter__()
        for topic, msgtype in record.values():
            writer.add_topic(topic, msgtype)

    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=opts.domain_id)
    node = rclpy.create_node('mipnet_replay', context=ctx)
    executor = SingleThreadedExecutor(context=ctx)
    executor.add_node(node)
    try:
        def on_output(name: str, topic: str):
            def cb(raw: bytes) -> None:
                now = time.time()
                if writer is not None:
                    writer.write(topic, time.time_ns(), raw)
                with lock:
                    counts[name] = counts.get(name, 0) + 1
                    lock.notify_all()
                if name == 'model_info':
                    msg = deserialize_message(raw, get_message(record[name][1]))
                    model_info.update(model_name=msg.model_name, model_hash=msg.model_hash, arch=msg.arch,
                                      num_instances=msg.num_instances, skeleton=msg.skeleton,
                                      edges=list(zip(msg.edges_from, msg.edges_to)))
                if name != 'keypoints':
                    return
                msg = deserialize_message(raw, KeypointsArray)
                stamp = stamp_to_ns(msg.header.stamp)
                with lock:
                    summary.outputs += 1
                    summary.people_total += len(msg.persons)
                    summary.people_per_stamp[stamp] = len(msg.persons)
                    received.setdefault(stamp, now)
                    lock.notify_all()
            return cb

        latched = qos_profile('reliable', 1, transient_local=True)
        subs = []
        for name, (topic, msgtype) in record.items():
            qos = latched if name == 'model_info' else qos_profile('reliable', 100)
            subs.append(node.create_subscription(get_message(msgtype), topic, on_output(name, topic), qos, raw=True))
        pub_img = node.create_publisher(get_message(img_type), pub_img_topic, qos_profile('reliable', 10))
        pub_det = node.create_publisher(get_message(topics.DETECTIONS_TYPE), pub_det_topic, qos_profile('reliable', 10))
        extra_pubs, extras = {}, {}
        if opts.extra_bag:
            for topic, msgtype in bag_io.bag_topics(opts.extra_bag).items():
                extra_pubs[topic] = node.create_publisher(get_message(msgtype), topic, qos_profile('reliable', 10))
            for topic, _msgtype, _t, raw in bag_io.read_raw(opts.extra_bag):
                extras.setdefault(header_stamp_ns(raw), []).append((topic, raw))
        spinner = threading.Thread(target=executor.spin, daemon=True)
        spinner.start()

        say = (lambda *a: None) if opts.quiet else (lambda *a: print(*a, flush=True))
        say(f'replay: {img_topic} -> {pub_img_topic}, {det_topic} -> {pub_det_topic}; '
            f'recording {", ".join(t for t, _ in record.values())}')
        deadline = time.time() + opts.wait_node

        def ready() -> bool:   # our publishers matched by the node, and its outputs matched to us
            return (pub_img.get_subscription_count() > 0 and pub_det.get_subscription_count() > 0
                    and all(s.get_publisher_count() > 0 for s in subs)
                    and all(p.get_subscription_count() > 0 for p in extra_pubs.values()))
        while time.time() < deadline and not ready():
            time.sleep(0.05)
        if not ready():
            missing = [t for p, t in ((pub_img, pub_img_topic), (pub_det, pub_det_topic))
                       if p.get_subscription_count() == 0]
            missing += [s.topic_name for s in subs if s.get_publisher_count() == 0]
            missing += [t for t, p in extra_pubs.items() if p.get_subscription_count() == 0]
            raise SystemExit(f'after {opts.wait_node:.0f} s nobody is on {missing}: is mipnet_node running and '
                             'active, in the same ROS_DOMAIN_ID and namespace, with these topic names?')
        time.sleep(1.0)   # the node sees our subscriptions later than we see its publishers
        if extras:   # the same for the extra topics: send the first stamp's messages a few times until both sides match
            for _ in range(8):
                for extra_topic, extra_raw in extras[min(extras)]:
                    extra_pubs[extra_topic].publish(extra_raw)
                time.sleep(0.25)

        wall0 = bag0 = None
        for topic, _msgtype, t_ns, raw in bag_io.read_raw(opts.bag, [img_topic, det_topic]):
            if opts.rate > 0 and not opts.lockstep:
                if wall0 is None:
                    wall0, bag0 = time.time(), t_ns
                delay = wall0 + (t_ns - bag0) / 1e9 / opts.rate - time.time()
                if delay > 0:
                    time.sleep(delay)
            stamp = header_stamp_ns(raw)
            kind = 'image' if topic == img_topic else 'detections'
            if kind == 'image':
                for extra_topic, extra_raw in extras.get(stamp, ()):
                    extra_pubs[extra_topic].publish(extra_raw)
            (pub_img if kind == 'image' else pub_det).publish(raw)
            if kind == 'image':
                summary.images_published += 1
            else:
                summary.detections_published += 1
            sent[kind].add(stamp)
            if stamp in sent['image'] and stamp in sent['detections'] and stamp not in completed:
                with lock:
                    completed[stamp] = time.time()
                    if opts.lockstep:
                        lock.wait_for(lambda: stamp in received, timeout=opts.frame_timeout)
        end = time.time() + opts.drain
        with lock:
            lock.wait_for(lambda: all(s in received for s in completed), timeout=max(0.0, end - time.time()))
        # annotated images and markers trail their keypoints message: wait for one per keypoints message
        trailing = [n for n in ('annotated', 'markers', 'keypoints_3d', 'markers_3d') if n in record]
        with lock:
            lock.wait_for(lambda: all(counts.get(n, 0) >= counts.get('keypoints', 0) for n in trailing),
                          timeout=max(2.0, end - time.time()))
            summary.frames_paired = len(completed)
            summary.unanswered = sorted(s for s in completed if s not in received)
            summary.unexpected = sorted(s for s in received if s not in completed)
            summary.latency_ms = percentile_summary([(received[s] - t) * 1e3 for s, t in completed.items()
                                                     if s in received])
            summary.model_info = dict(model_info)
    finally:
        executor.shutdown(timeout_sec=1.0)
        node.destroy_node()
        rclpy.try_shutdown(context=ctx)
        if writer is not None:
            writer.__exit__(*sys.exc_info())   # on failure no half-written output is left behind
            summary.recorded = dict(writer.counts)
    return summary


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--bag', required=True, help='input bag: .mcap or .db3 file, or a rosbag2 directory')
    parser.add_argument('--out', required=True, help='output bag: a path ending in .mcap = one MCAP file, '
                                                     'else a rosbag2 directory (see --storage)')
    parser.add_argument('--rate', type=float, default=1.0, help='playback speed factor; 0 = as fast as possible')
    parser.add_argument('--lockstep', action='store_true',
                        help="send each frame only after the node answered the previous one (no drops)")
    parser.add_argument('--frame-timeout', type=float, default=10.0, help='lockstep: seconds to wait per frame')
    parser.add_argument('--image-topic', help='image topic in the bag (default: the only Image/CompressedImage one)')
    parser.add_argument('--detections-topic', help='Detection2DArray topic in the bag (default: the only one)')
    parser.add_argument('--namespace', default='/', help="the node's namespace (default /)")
    parser.add_argument('--node-name', default='mipnet_node', help='the node name (for ~/ outputs)')
    parser.add_argument('--publish-image-topic', help='publish images here (default <namespace>/image, '
                                                      'or <namespace>/image/compressed)')
    parser.add_argument('--publish-detections-topic', help='publish detections here (default <namespace>/detections)')
    parser.add_argument('--keypoints-topic', help='keypoints topic to record (default <namespace>/keypoints)')
    parser.add_argument('--record', default='keypoints,model_info',
                        help=f'outputs to record, comma separated from {sorted(RECORDABLE)} (or "all"; the 3D '
                             'ones with --extra-bag)')
    parser.add_argument('--storage', choices=('mcap', 'sqlite3'), default='mcap',
                        help='storage of a directory output (a .mcap path is always mcap)')
    parser.add_argument('--no-compress', action='store_true', help='write uncompressed MCAP chunks')
    parser.add_argument('--wait-node', type=float, default=30.0, help='seconds to wait for the node')
    parser.add_argument('--drain', type=float, default=3.0, help='seconds to wait for late outputs at the end')
    parser.add_argument('--force', action='store_true', help='overwrite --out')
    parser.add_argument('--summary-json', help='also write the summary as JSON here')
    parser.add_argument('--extra-bag', help='also publish this bag (e.g. aligned depth + camera_info), each message '
                                            'just before the image with its stamp')


def options_from_args(args: argparse.Namespace) -> ReplayOptions:
    if args.record == 'all':
        record = sorted(r for r in RECORDABLE if args.extra_bag or r not in FROM_DEPTH)
    else:
        record = [r.strip() for r in args.record.split(',') if r.strip()]
    unknown = [r for r in record if r not in RECORDABLE]
    if unknown:
        raise SystemExit(f'--record: unknown {unknown}; choose from {sorted(RECORDABLE)}')
    return ReplayOptions(
        bag=args.bag, out=args.out, rate=args.rate, lockstep=args.lockstep, frame_timeout=args.frame_timeout,
        image_topic=args.image_topic, detections_topic=args.detections_topic, namespace=args.namespace,
        node_name=args.node_name, publish_image_topic=args.publish_image_topic,
        publish_detections_topic=args.publish_detections_topic, keypoints_topic=args.keypoints_topic,
        record=record, wait_node=args.wait_node, drain=args.drain, storage=args.storage,
        compress=not args.no_compress, force=args.force, extra_bag=args.extra_bag)


def main(args: argparse.Namespace) -> int:
    summary = run_replay(options_from_args(args))
    print(summary.text())
    if getattr(args, 'summary_json', None):
        doc = asdict(summary)
        doc['people_per_stamp'] = {str(k): v for k, v in summary.people_per_stamp.items()}
        Path(args.summary_json).write_text(json.dumps(doc, indent=1) + '\n')
    if summary.outputs == 0:
        return 1
    return 1 if args.lockstep and summary.unanswered else 0
