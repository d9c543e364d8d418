"""ROS4HRI (REP-155) body provider: /humans/bodies/tracked and per body roi, skeleton2d, cropped, and TF.

Body id = prefix + track_id, so a person keeps the same body across frames; persons without a
track_id are not bodies. A body lives from its first tracked frame until it was not seen for
`timeout_sec` (header stamps, and the same time on the wall clock when no message comes at all):
`/humans/bodies/tracked` lists every living body, so one late, out-of-order or untracked message
removes nobody. A message older than the newest one is late: it changes nothing (a jump back by more
than BACKWARDS_RESET_SEC is a restarted stream: every body ends). Closing publishes an empty list.
Every publisher here is reliable and volatile: libhri subscribes with the system default QoS
(reliable, volatile), and TF listeners with reliable, volatile, depth 100. hri_msgs and tf2_msgs are
imported only here, when the output is switched on, so the rest of the package runs without them.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from mipnet_ros.core.skeleton import get_skeleton
from mipnet_ros.ros import topics
from mipnet_ros.ros.person_record import read_people

# REP-155 Skeleton2D order (the message's constants NOSE = 0 ... RIGHT_EAR = 17), as joint names.
REP155_JOINTS = ('nose', 'neck', 'right_shoulder', 'right_elbow', 'right_wrist', 'left_shoulder', 'left_elbow',
                 'left_wrist', 'right_hip', 'right_knee', 'right_ankle', 'left_hip', 'left_knee', 'left_ankle',
                 'left_eye', 'right_eye', 'left_ear', 'right_ear')


def _normalized(u: np.ndarray, v: np.ndarray, width: int, height: int):
    """Pixel positions (centre of the top-left pixel = 0, 0) -> [0, 1] from the image's top-left corner."""
    return np.clip((u + 0.5) / max(width, 1), 0.0, 1.0), np.clip((v + 0.5) / max(height, 1), 0.0, 1.0)


def skeleton2d_points(names: Sequence[str], x: Sequence[float], y: Sequence[float], scores: Sequence[float],
                      visibility: Sequence[int], width: int, height: int) -> np.ndarray:
    """(18, 3) rows of (x, y, c) in REP-155 order: normalised image coordinates, confidence in [0, 1].

    Joints the layout lacks or the estimator did not find get (0, 0, 0). NECK is the midpoint of the
    two shoulders (confidence: the lower of the two) when the layout has no neck of its own.
    """
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    c = np.clip(np.nan_to_num(np.asarray(scores, np.float64)), 0.0, 1.0)
    vis = np.asarray(visibility) if len(visibility) == len(x) else np.full(len(x), 2)
    c = np.where(vis > 0, c, 0.0)
    index = {n: i for i, n in enumerate(names) if i < len(x)}
    out = np.zeros((len(REP155_JOINTS), 3))
    for j, name in enumerate(REP155_JOINTS):
        if name in index:
            out[j] = x[index[name]], y[index[name]], c[index[name]]
        elif name == 'neck' and 'left_shoulder' in index and 'right_shoulder' in index:
            a, b = index['left_shoulder'], index['right_shoulder']
            out[j] = (x[a] + x[b]) / 2, (y[a] + y[b]) / 2, min(c[a], c[b])
    found = out[:, 2] > 0
    out[found, 0], out[found, 1] = _normalized(out[found, 0], out[found, 1], width, height)
    out[~found] = 0.0
    return out


def normalized_roi(xyxy: Sequence[float], width: int, height: int) -> np.ndarray:
    """Box (x1, y1, x2, y2) in pixels -> (xmin, ymin, xmax, ymax) in [0, 1]."""
    x1, y1, x2, y2 = (float(v) for v in xyxy)
    xs, ys = _normalized(np.array([x1, x2]), np.array([y1, y2]), width, height)
    return np.array([xs[0], ys[0], xs[1], ys[1]])


BACKWARDS_RESET_SEC = 5.0
TF_TOPIC = '/tf'
TF_DEPTH = 100
ACK_WAIT_SEC = 0.5
LINGER_SEC = 0.3
WAITING_CROP_STAMPS = 10    # keypoints stamps whose image has not arrived yet, kept for /cropped
_TOKEN = re.compile(r'^[A-Za-z][A-Za-z0-9_]*$')


def check_id_prefix(prefix: str) -> str:
    """Why `prefix` cannot start a topic name token ('' when it can)."""
    if not _TOKEN.match(prefix or ''):
        return (f'hri.id_prefix {prefix!r} must start with a letter and hold only letters, digits and _ '
                '(it starts the topic name token /humans/bodies/<prefix><track_id>)')
    if '__' in prefix:
        return f'hri.id_prefix {prefix!r} must not contain a repeated underscore (ROS names reserve it)'
    return ''


def body_id(track_id: str, prefix: str) -> str:
    """A topic-safe REP-155 body id for a tracker id ('' when there is none)."""
    if not track_id:
        return ''
    return re.sub(r'_+', '_', prefix + re.sub(r'[^A-Za-z0-9_]', '_', track_id))


def hri_qos(depth: int):
    """Reliable, volatile, keep last `depth`: what libhri's subscriptions accept."""
    from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=max(int(depth), 1),
                      reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.VOLATILE)


@dataclass
class HriReport:
    """What one keypoints message did to the bodies."""
    tracked: List[str] = field(default_factory=list)
    added: List[str] = field(default_factory=list)
    removed: List[str] = field(default_factory=list)
    untracked: int = 0         # persons without a track_id
    over_limit: int = 0        # bodies not published because max_bodies were already alive
    late: bool = False         # older than the newest message: ignored
    cropped_missing: int = 0   # bodies without /cropped (no image with the keypoints' stamp)


@dataclass
class _Body:
    skeleton: Any
    roi: Any
    cropped: Any
    last_seen_ns: int
    last_seen_wall: float


class HriOutput:
    """Publishes the ROS4HRI body topics for each PersonKeypointsArray given to `publish`."""

    def __init__(self, node: Any, depth: int = 10, max_bodies: int = 32, id_prefix: str = 'b',
                 cropped: bool = True, tf: bool = False, image_cache: int = 10):
        from hri_msgs.msg import IdsList, NormalizedRegionOfInterest2D, Skeleton2D  # optional dependency

        from mipnet_ros.ros.hri_cropped import ImageCache
        why = check_id_prefix(id_prefix)
        if why:
            raise ValueError(why)
        self._types = (Skeleton2D, NormalizedRegionOfInterest2D, IdsList)
        self._node, self._qos = node, hri_qos(depth)
        self._max_bodies, self._prefix = int(max_bodies), id_prefix
        self._tracked = node.create_publisher(IdsList, topics.HRI_BODIES_TRACKED, self._qos)
        self._images = ImageCache(image_cache) if cropped else None
        self._tf = None
        if tf:
            from tf2_msgs.msg import TFMessage  # optional dependency, only with depth
            self._tf = node.create_publisher(TFMessage, TF_TOPIC, hri_qos(TF_DEPTH))
        self._bodies: Dict[str, _Body] = {}
        self._waiting_crops: Dict[int, List[Tuple[str, Any]]] = {}   # stamp -> (body, box) until its image
        self.crops_late = 0
        self._newest_ns: Optional[int] = None
        self._header = None

    @property
    def bodies(self) -> List[str]:
        return sorted(self._bodies)

    def add_image(self, msg: Any) -> None:
        """Keep the image for the keypoints of its stamp; publish the crops that were waiting for it."""
        if self._images is None:
            return
        from mipnet_ros.ros.convert import stamp_to_ns
        from mipnet_ros.ros.hri_cropped import crop_image
        self._images.add(msg)
        key = stamp_to_ns(msg.header.stamp)
        waiting = self._waiting_crops.pop(key, [])
        for bid, xyxy in waiting:
            body = self._bodies.get(bid)
            crop = crop_image(msg, xyxy) if body is not None and body.cropped is not None else None
            if crop is not None:
                body.cropped.publish(crop)
        self.crops_late += len(waiting)

    def _wait_for_image(self, stamp_ns: int, bid: str, xyxy: Any) -> None:
        """The image of these keypoints has not come yet (it is larger and may travel slower): keep the box."""
        self._waiting_crops.setdefault(stamp_ns, []).append((bid, xyxy))
        while len(self._waiting_crops) > WAITING_CROP_STAMPS:
            self._waiting_crops.pop(next(iter(self._waiting_crops)))

    def publish(self, msg: Any, timeout_sec: float = 1.0) -> HriReport:
        from mipnet_ros.ros.convert import stamp_to_ns
        from mipnet_ros.ros.hri_cropped import crop_image
        Skeleton2D, Roi, IdsList = self._types
        report = HriReport()
        now = stamp_to_ns(msg.header.stamp)
        if self._newest_ns is not None and now < self._newest_ns:
            if self._newest_ns - now <= BACKWARDS_RESET_SEC * 1e9:   # late or out of order: changes nothing
                report.late = True
                return report
            report.removed += self._drop(list(self._bodies))        # the stream restarted (a bag loop)
        self._newest_ns = now
        self._header = msg.header
        try:
            names = get_skeleton(msg.skeleton).keypoint_names
        except KeyError:
            names = ()
        w, h = int(msg.image_width), int(msg.image_height)
        image = self._images.get(msg.header.stamp) if self._images is not None else None
        seen: List[str] = []
        for p in read_people(msg):
            bid = body_id(p.track_id, self._prefix)
            if not bid:
                report.untracked += 1
                continue
            if bid in seen:
                continue
            body = self._bodies.get(bid)
            if body is None:
                if len(self._bodies) >= self._max_bodies:
                    report.over_limit += 1
                    continue
                body = self._bodies[bid] = self._new_body(bid, now)
                report.added.append(bid)
            body.last_seen_ns, body.last_seen_wall = now, time.monotonic()
            seen.append(bid)
            sk = Skeleton2D(header=msg.header)
            for point, (x, y, c) in zip(sk.skeleton, skeleton2d_points(names, p.keypoints[:, 0], p.keypoints[:, 1],
                                                                       p.scores, p.visibility, w, h)):
                point.x, point.y, point.c = float(x), float(y), float(c)
            body.skeleton.publish(sk)
            xyxy = p.box
            xmin, ymin, xmax, ymax = normalized_roi(xyxy, w, h)
            body.roi.publish(Roi(header=msg.header, xmin=float(xmin), ymin=float(ymin), xmax=float(xmax),
                                 ymax=float(ymax), c=float(np.clip(p.score, 0.0, 1.0))))
            if body.cropped is not None:
                crop = crop_image(image, xyxy) if image is not None else None
                if image is None:
                    self._wait_for_image(now, bid, xyxy)
                elif crop is None:
                    report.cropped_missing += 1
                else:
                    body.cropped.publish(crop)
        stale = [b for b, body in self._bodies.items() if b not in seen and now - body.last_seen_ns > timeout_sec * 1e9]
        report.removed += self._drop(stale, publish=False)
        report.tracked = self.bodies
        self._tracked.publish(IdsList(header=msg.header, ids=report.tracked))
        return report

    def publish_tf(self, msg: Any, results: Sequence[Tuple[np.ndarray, np.ndarray]]) -> int:
        """TF frame body_<id> (REP-155 orientation) for each living body with a 3D position; returns how many."""
        if self._tf is None:
            return 0
        from geometry_msgs.msg import TransformStamped
        from tf2_msgs.msg import TFMessage

        from mipnet_ros.core.body_frame import body_pose
        try:
            names = get_skeleton(msg.skeleton).keypoint_names
        except KeyError:
            names = ()
        out = TFMessage()
        for p, (xyz, ok) in zip(msg.persons, results):
            bid = body_id(p.track_id, self._prefix)
            if not bid or bid not in self._bodies:
                continue
            pose = body_pose(xyz, ok, names)
            if pose is None:
                continue
            (x, y, z), (qx, qy, qz, qw) = pose
            t = TransformStamped(header=msg.header, child_frame_id=f'body_{bid}')
            t.transform.translation.x, t.transform.translation.y, t.transform.translation.z = (
                float(x), float(y), float(z))
            t.transform.rotation.x, t.transform.rotation.y = qx, qy
            t.transform.rotation.z, t.transform.rotation.w = qz, qw
            out.transforms.append(t)
        if out.transforms:
            self._tf.publish(out)
        return len(out.transforms)

    def expire(self, timeout_sec: float) -> List[str]:
        """End the bodies unseen for timeout_sec of wall time (no keypoints at all); the list is republished."""
        now = time.monotonic()
        stale = [b for b, body in self._bodies.items() if now - body.last_seen_wall > timeout_sec]
        return self._drop(stale) if stale else []

    def _new_body(self, bid: str, now: int) -> _Body:
        from sensor_msgs.msg import Image
        Skeleton2D, Roi, _ = self._types
        node = self._node
        return _Body(node.create_publisher(Skeleton2D, topics.hri_body_topic(bid, 'skeleton2d'), self._qos),
                     node.create_publisher(Roi, topics.hri_body_topic(bid, 'roi'), self._qos),
                     node.create_publisher(Image, topics.hri_body_topic(bid, 'cropped'), self._qos)
                     if self._images is not None else None, now, time.monotonic())

    def _drop(self, ids: Sequence[str], publish: bool = True) -> List[str]:
        for bid in ids:
            body = self._bodies.pop(bid)
            for pub in (body.skeleton, body.roi, body.cropped):
                if pub is not None:
                    self._node.destroy_publisher(pub)
        if ids and publish:
            self._publish_list()
        return list(ids)

    def _publish_list(self) -> None:
        _, _, IdsList = self._types
        msg = IdsList(ids=self.bodies)
        if self._header is not None:
            msg.header.frame_id = self._header.frame_id
        msg.header.stamp = self._node.get_clock().now().to_msg()
        self._tracked.publish(msg)

    def close(self) -> None:
        """End every body and publish an empty tracked list (consumers drop their bodies), then stop."""
        ended = self._drop(list(self._bodies), publish=False)
        self._publish_list()
        acked = False
        try:   # let the empty list reach the subscribers before the publisher goes
            from rclpy.duration import Duration
            acked = self._tracked.wait_for_all_acked(Duration(seconds=ACK_WAIT_SEC))
        except Exception:  # noqa: BLE001 - best effort at shutdown
            pass
        # With shared-memory transports a reader takes the sample from this process's memory after the
        # acknowledgement: give it a moment before the process may exit.
        time.sleep(LINGER_SEC)
        delivery = 'acknowledged' if acked else 'not acknowledged'
        self._node.get_logger().info(f'ROS4HRI output closed: {len(ended)} body(ies) ended, empty '
                                     f'{topics.HRI_BODIES_TRACKED} published ({delivery})')
        self._node.destroy_publisher(self._tracked)
        if self._tf is not None:
            self._node.destroy_publisher(self._tf)
        if self._images is not None:
            self._images.clear()
        self._waiting_crops.clear()
