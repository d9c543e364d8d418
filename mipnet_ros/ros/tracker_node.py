"""mipnet_tracker: a lifecycle node that gives the people of `keypoints` track ids stable across frames.

Every message received is republished on `tracked_keypoints` with the same header and people, `track_id` set
for confirmed people: a message that cannot be tracked (a late stamp) is still republished, untracked, so no
result is lost. What the stream does wrong (stamps back, gaps, a new frame_id, NaN) is logged with the fix
and counted on /diagnostics."""
from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any, List, Optional, Tuple

import numpy as np
from rcl_interfaces.msg import SetParametersResult
from rclpy.lifecycle import LifecycleState, TransitionCallbackReturn

from mipnet_ros.core import person_box
from mipnet_ros.core.skeleton import edges_by_name
from mipnet_ros.core.stats import moving_average
from mipnet_ros.core.tracking import Observation, PoseTracker, StreamGuard, process_track_ids
from mipnet_ros.ros import convert, topics
from mipnet_ros.ros.failures import parameter_failure
from mipnet_ros.ros.lifecycle_base import DownstreamLifecycleNode
from mipnet_ros.ros.log_throttle import ThrottledLog
from mipnet_ros.ros.pairing import StampPairer
from mipnet_ros.ros.params import NodeParameters, qos_profile
from mipnet_ros.ros.person_record import PublishedPerson, read_people
from mipnet_ros.ros.tracker_params import TABLE, TrackerNodeParams

NODE_NAME = topics.TRACKER_NODE
LOG_THROTTLE_SEC = 5.0
RESET_ADVICE = {
    'frame_id_change': 'one tracker follows one camera: remap each camera to its own mipnet_tracker',
    'stamp_backwards': 'the stream restarted (a bag loop or a restarted clock)',
    'time_gap': 'no keypoints for longer than max_gap_sec',
}
DROP_ADVICE = {
    'out_of_order': 'a message older than the last one arrived late; republished untracked',
    'duplicate_stamp': 'two messages with the same stamp; the second is republished untracked',
}


@dataclass
class TrackedFrame:
    """What ~/annotated_image and the markers draw of one tracked message (read once)."""
    header: Any
    people: List[PublishedPerson]
    edges: Tuple[Tuple[int, int], ...]


@dataclass
class TrackerStats:
    received: int = 0
    tracked: int = 0
    empty: int = 0
    people_in: int = 0
    people_tracked: int = 0
    tracks_born: int = 0
    tracks_ended: int = 0
    tracks_ended_by_reset: int = 0
    untracked_over_limit: int = 0
    repaired_people: int = 0          # NaN/inf positions or missing visibility fixed before tracking
    annotated_published: int = 0
    rejected_images: int = 0          # images of the annotated output that could not be decoded
    errors: int = 0
    last_error: str = ''
    untracked_messages: dict = field(default_factory=dict)   # reason -> count (republished untracked)
    resets: dict = field(default_factory=dict)               # reason -> count
    processing_ms_mean: float = float('nan')
    reported_resets: int = 0
    reported_untracked: int = 0
    reported_errors: int = 0


class TrackerNode(DownstreamLifecycleNode):

    def __init__(self, node_name: str = NODE_NAME, **kwargs):
        super().__init__(node_name, **kwargs)
        self._log = ThrottledLog(lambda: self.get_logger(), LOG_THROTTLE_SEC)   # repeated lines, per reason
        self._node_params = NodeParameters(self, TABLE)
        self.params: TrackerNodeParams = self._node_params.read()[0]
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.stats = TrackerStats()
        self._lock = threading.Lock()
        self._state = 'unconfigured'
        self._config_error = ''
        self._tracker: Optional[PoseTracker] = None
        self._guard: Optional[StreamGuard] = None
        self._sub = self._image_sub = None
        self._pub = self._pub_markers = self._pub_annotated = None
        self._pairer: Optional[StampPairer] = None
        import diagnostic_updater
        self._updater = diagnostic_updater.Updater(self, period=1.0)
        self._updater.setHardwareID('mipnet')
        self._updater.add('tracking', self._diagnose)

    # ------------------------------------------------------------------ parameters
    def _on_set_parameters(self, changes) -> SetParametersResult:
        why, self.params = self._node_params.live_update(self.params, changes)
        return SetParametersResult(successful=not why, reason=why)

    # ------------------------------------------------------------------ lifecycle
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.params, problem = self._node_params.read()
        p = self.params
        if problem is not None:
            return self._fail(parameter_failure(problem))
        try:
            self._tracker = PoseTracker(p.tracker_config(), process_track_ids())   # ids never reused (ids.py)
        except ValueError as exc:
            return self._fail(f'tracker parameters: {exc}')
        self._guard = StreamGuard(p.backwards_reset_sec, p.max_gap_sec)
        self._config_error = ''
        from visualization_msgs.msg import MarkerArray

        from mipnet_ros.msg import PersonKeypointsArray
        out_qos = qos_profile(p.qos_output_reliability, p.qos_output_depth)
        self._pub = self.create_lifecycle_publisher(PersonKeypointsArray, topics.TRACKED_KEYPOINTS, out_qos)
        self._pub_markers = self.create_lifecycle_publisher(MarkerArray, topics.MARKERS, out_qos)
        if p.publish_annotated:
            from sensor_msgs.msg import Image
            self._pub_annotated = self.create_lifecycle_publisher(Image, topics.ANNOTATED_IMAGE, out_qos)
            self._pairer = StampPairer(p.cache_size, 0, max_bytes=p.cache_max_mb << 20)
        self._state = 'inactive'
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        ret = super().on_activate(state)
        if ret != TransitionCallbackReturn.SUCCESS:
            return ret
        from mipnet_ros.msg import PersonKeypointsArray
        p = self.params
        self._sub = self.create_subscription(PersonKeypointsArray, topics.KEYPOINTS, self._on_keypoints,
                                             qos_profile(p.qos_input_reliability, p.qos_input_depth))
        if self._pub_annotated is not None:
            from sensor_msgs.msg import CompressedImage, Image
            image_type = CompressedImage if p.image_transport == 'compressed' else Image
            self._image_sub = self.create_subscription(image_type, topics.image_topic(p.image_transport),
                                                       self._on_image,
                                                       qos_profile(p.qos_image_reliability, p.qos_image_depth))
        self._state = 'active'
        self.get_logger().info(f'active: tracking {self.resolve_topic_name(topics.KEYPOINTS)} -> '
                               f'{self.resolve_topic_name(topics.TRACKED_KEYPOINTS)}')
        return TransitionCallbackReturn.SUCCESS

    def stop_processing(self) -> None:
        """Before the node is destroyed at shutdown: no more input."""
        self._unsubscribe()

    def _unsubscribe(self) -> None:
        for sub in (self._sub, self._image_sub):
            if sub is not None:
                self.destroy_subscription(sub)
        self._sub = self._image_sub = None
        if self._pairer is not None:
            self._pairer.clear()

    def _release(self) -> None:
        for pub in (self._pub, self._pub_markers, self._pub_annotated):
            if pub is not None:
                self.destroy_lifecycle_publisher(pub)
        self._pub = self._pub_markers = self._pub_annotated = None
        self._pairer = None
        self._tracker = None
        self._guard = None

    # ------------------------------------------------------------------ tracking
    def _on_keypoints(self, msg) -> None:
        t0 = time.perf_counter()
        try:
            self._track(msg)
        except Exception as exc:  # noqa: BLE001 - keep serving; diagnostics report the error
            with self._lock:
                self.stats.errors += 1
                self.stats.last_error = f'{type(exc).__name__}: {exc}'
            self._log.error('message_failed', f'message failed: {type(exc).__name__}: {exc}')
            return
        dt_ms = (time.perf_counter() - t0) * 1e3
        with self._lock:
            self.stats.processing_ms_mean = moving_average(self.stats.processing_ms_mean, dt_ms)

    def _on_image(self, msg) -> None:
        pairer, pub = self._pairer, self._pub_annotated
        if pairer is None or pub is None or pub.get_subscription_count() == 0:
            return
        pair = pairer.add_image(convert.stamp_to_ns(msg.header.stamp), msg)
        if pair is not None:
            self._annotate(pair[1], pair[2])

    def _annotate(self, image, tracked: 'TrackedFrame') -> None:
        """~/annotated_image: the camera image with the tracked people, coloured by track id."""
        from mipnet_ros.ros import visualize
        try:
            bgr = convert.image_msg_to_bgr(image)
        except convert.ImageConversionError as exc:
            with self._lock:
                self.stats.rejected_images += 1
            self._log.warning(('image', exc.reason),
                              f'image for ~/annotated_image rejected ({exc.reason}): {exc}')
            return
        pub = self._pub_annotated
        if pub is not None:
            pub.publish(convert.bgr_to_image_msg(visualize.draw_people(bgr, tracked.people, tracked.edges),
                                                 tracked.header))
            with self._lock:
                self.stats.annotated_published += 1

    def _track(self, msg) -> None:
        tracker, guard, pub = self._tracker, self._guard, self._pub
        if tracker is None or guard is None or pub is None:
            return
        people = read_people(msg)           # the one conversion of this message
        repaired = sum(p.repaired for p in people)
        with self._lock:
            self.stats.received += 1
            self.stats.empty += int(not people)
            self.stats.people_in += len(people)
            self.stats.repaired_people += repaired
        if repaired:
            self._log.warning(
                'repaired',
                f'{repaired} person(s) with NaN/inf keypoints, unequal x/y lengths or no visibility: published '
                'with visibility 0 there (the keypoints publisher must follow msg/PersonKeypoints.msg)')
        observations = [_observation(q, (msg.image_height, msg.image_width)) for q in people]
        verdict = guard.check(convert.stamp_to_ns(msg.header.stamp), msg.header.frame_id)
        track_ids = [''] * len(people)
        if verdict.track:
            if verdict.reset:
                ended = tracker.reset()
                with self._lock:
                    self.stats.resets[verdict.reason] = self.stats.resets.get(verdict.reason, 0) + 1
                    self.stats.tracks_ended += len(ended)
                    self.stats.tracks_ended_by_reset += len(ended)
                self._log.warning(
                    ('reset', verdict.reason),
                    f'{len(ended)} track(s) ended ({verdict.reason}): {RESET_ADVICE.get(verdict.reason, "")}')
            result = tracker.step(observations, verdict.dt_sec)
            track_ids = result.track_ids
            with self._lock:
                s = self.stats
                s.tracked += 1
                s.people_tracked += sum(bool(t) for t in track_ids)
                s.tracks_born += len(result.born)
                s.tracks_ended += len(result.ended)
                s.untracked_over_limit += result.untracked_over_limit
        else:
            with self._lock:
                d = self.stats.untracked_messages
                d[verdict.reason] = d.get(verdict.reason, 0) + 1
            self._log.warning(('untracked', verdict.reason),
                              f'{verdict.reason}: {DROP_ADVICE.get(verdict.reason, "")}')
        out = tracked_msg(msg, people, observations, track_ids)
        pub.publish(out)
        annotated, pairer = self._pub_annotated, self._pairer
        live = self.params
        markers = self._pub_markers
        want_image = annotated is not None and pairer is not None and annotated.get_subscription_count() > 0
        want_markers = live.publish_markers and markers is not None and markers.get_subscription_count() > 0
        if not (want_image or want_markers):
            return
        frame = TrackedFrame(out.header, [replace(p, track_id=t) for p, t in zip(people, track_ids)],
                             edges_by_name(msg.skeleton, people[0].num_joints if people else 0))
        if want_image:
            pair = pairer.add_detections(convert.stamp_to_ns(out.header.stamp), frame)
            if pair is not None:
                self._annotate(pair[1], pair[2])
        if want_markers:
            from mipnet_ros.ros import visualize
            markers.publish(visualize.markers_msg(out.header, frame.people, frame.edges, scale=live.marker_scale,
                                                  ns=NODE_NAME))

    # ------------------------------------------------------------------ diagnostics
    def _diagnose(self, stat):
        from diagnostic_msgs.msg import DiagnosticStatus
        with self._lock:
            s = self.stats
            resets, untracked = sum(s.resets.values()), sum(s.untracked_messages.values())
            new_resets, new_untracked = resets - s.reported_resets, untracked - s.reported_untracked
            new_errors = s.errors - s.reported_errors
            s.reported_resets, s.reported_untracked, s.reported_errors = resets, untracked, s.errors
            values = dict(s.__dict__)
            values['resets'], values['untracked_messages'] = dict(s.resets), dict(s.untracked_messages)
        active = self._tracker.confirmed_count if self._tracker is not None else 0
        if self._config_error:
            stat.summary(DiagnosticStatus.ERROR, f'configure failed: {self._config_error}')
        elif new_errors > 0:
            stat.summary(DiagnosticStatus.ERROR, f'{new_errors} message(s) failed: {values["last_error"]}')
        elif self._state != 'active':
            stat.summary(DiagnosticStatus.OK, f'{self._state} (not tracking)')
        elif new_resets > 0:
            stat.summary(DiagnosticStatus.WARN, f'{new_resets} reset(s): ' + _join(values['resets']))
        elif new_untracked > 0:
            stat.summary(DiagnosticStatus.WARN, f'{new_untracked} message(s) republished untracked: '
                         + _join(values['untracked_messages']))
        else:
            stat.summary(DiagnosticStatus.OK, 'ok')
        stat.add('state', self._state)
        stat.add('tracks_active', str(active))
        for key in ('received', 'tracked', 'empty', 'people_in', 'people_tracked', 'tracks_born', 'tracks_ended',
                    'tracks_ended_by_reset', 'untracked_over_limit', 'repaired_people', 'errors',
                    'annotated_published', 'rejected_images'):
            stat.add(key, str(values[key]))
        stat.add('resets', _join(values['resets']))
        stat.add('untracked_messages', _join(values['untracked_messages']))
        stat.add('input_publishers', str(self.count_publishers(self.resolve_topic_name(topics.KEYPOINTS))))
        stat.add('processing_time_ms_mean', f'{values["processing_ms_mean"]:.2f}')
        return stat


def _join(counts: dict) -> str:
    return ', '.join(f'{k}: {v}' for k, v in sorted(counts.items()))


def _observation(person: PublishedPerson, image_shape) -> Observation:
    kp, vis, box = person.keypoints, person.visibility, person.box
    if not np.all(np.isfinite(box)) or box[2] <= box[0] or box[3] <= box[1]:
        box = person_box.own_box(kp, vis, person.crop_box, image_shape if min(image_shape) > 0 else (1e6, 1e6))
    return Observation(kp.astype(np.float64), vis, np.asarray(box, np.float64), person_box.unit_score(person.score))


def tracked_msg(msg: Any, people: List[PublishedPerson], observations: List[Observation], track_ids: List[str]):
    """The input message with track ids, the header copied exactly, and no NaN in what it passes on."""
    from mipnet_ros.msg import PersonKeypointsArray
    out = PersonKeypointsArray(header=msg.header, image_width=msg.image_width, image_height=msg.image_height,
                               skeleton=msg.skeleton)
    for person, read, obs, tid in zip(msg.persons, people, observations, track_ids):
        person.track_id = tid
        if read.repaired:
            if not np.all(np.isfinite(read.box)):
                person.bbox = convert.xyxy_to_bbox2d(obs.box)
            if not np.all(np.isfinite(read.crop_box)):
                person.crop_bbox = convert.xyxy_to_bbox2d(obs.box)
            person.x = read.keypoints[:, 0].tolist()
            person.y = read.keypoints[:, 1].tolist()
            person.visibility = read.visibility.tolist()
            person.keypoint_scores = read.scores.tolist()
        person.score = person_box.unit_score(person.score, 0.0)
        person.detection_score = person_box.unit_score(person.detection_score)
        out.persons.append(person)
    return out


def main(args: Optional[List[str]] = None) -> int:
    from mipnet_ros.ros.lifecycle_main import run_lifecycle_node
    return run_lifecycle_node(TrackerNode, NODE_NAME, args)


if __name__ == '__main__':
    sys.exit(main())
