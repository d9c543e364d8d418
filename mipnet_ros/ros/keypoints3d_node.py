"""mipnet_keypoints3d: a lifecycle node that lifts 2D keypoints into metres with an aligned depth image.

keypoints + depth image (message_filters) + the newest matching CameraInfo -> keypoints_3d and 3D markers;
with hri.enabled, keypoints -> ROS4HRI bodies. A node of its own, so depth costs nothing without it and it can
run beside the camera driver, wired like yolo_ros' detect_3d_node. Bad input is one reason in the log and
/diagnostics; nothing raises."""
from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from rcl_interfaces.msg import SetParametersResult
from rclpy.lifecycle import LifecycleState, TransitionCallbackReturn

from mipnet_ros.core.depth3d import DepthInputError
from mipnet_ros.core.skeleton import edges_by_name
from mipnet_ros.ros import convert3d, topics
from mipnet_ros.ros.camera_info_cache import CameraInfoCache
from mipnet_ros.ros.failures import parameter_failure
from mipnet_ros.ros.keypoints3d_params import TABLE, Keypoints3DParams
from mipnet_ros.ros.lifecycle_base import DownstreamLifecycleNode
from mipnet_ros.ros.log_throttle import ThrottledLog
from mipnet_ros.ros.params import NodeParameters, qos_profile

NODE_NAME = topics.KEYPOINTS3D_NODE
LOG_THROTTLE_SEC = 5.0
CAMERA_INFO_CACHE = 30
HRI_EXPIRE_PERIOD_SEC = 0.5
LATCHED_CHECK_SEC = 0.5      # how often the node looks for a latched CameraInfo publisher
HRI_EXPIRE_GRACE_SEC = 1.0   # wall-clock expiry waits this much longer than the header-time one


@dataclass
class Keypoints3DStats:
    """Counters for /diagnostics."""
    keypoints: int = 0
    depth_images: int = 0
    camera_infos: int = 0
    paired: int = 0
    published: int = 0
    people_total: int = 0
    points_valid: int = 0
    points_total: int = 0
    rejected: int = 0
    no_valid_depth: int = 0
    errors: int = 0
    hri_bodies: int = 0
    hri_untracked: int = 0
    hri_over_limit: int = 0
    hri_late: int = 0
    hri_cropped_missing: int = 0
    hri_tf: int = 0
    images: int = 0
    reasons: Dict[str, int] = field(default_factory=dict)
    last_reason: str = ''
    reported_rejected: int = 0
    reported_errors: int = 0


class Keypoints3DNode(DownstreamLifecycleNode):

    def __init__(self, node_name: str = NODE_NAME, **kwargs):
        super().__init__(node_name, **kwargs)
        self._node_params = NodeParameters(self, TABLE)
        self.params: Keypoints3DParams = self._node_params.read()[0]
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.stats = Keypoints3DStats()
        self._lock = threading.Lock()
        self._state = 'unconfigured'
        self._config_error = ''
        self._pub_3d = self._pub_markers = None
        self._hri = None
        self._hri_timer = None
        self._latched_timer = self._latched_info_sub = self._info_type = None
        self._subs: List[Any] = []
        self._sync = None
        self._cameras = CameraInfoCache(CAMERA_INFO_CACHE)
        self._flush_timer = None
        self._log = ThrottledLog(lambda: self.get_logger(), LOG_THROTTLE_SEC)   # repeated lines, per reason
        import diagnostic_updater
        self._updater = diagnostic_updater.Updater(self, period=1.0)
        self._updater.setHardwareID('mipnet')
        self._updater.add('keypoints 3d', self._diagnose)

    # ------------------------------------------------------------------ parameters and lifecycle
    def _on_set_parameters(self, changes) -> SetParametersResult:
        why, self.params = self._node_params.live_update(self.params, changes)
        return SetParametersResult(successful=not why, reason=why)

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.params, problem = self._node_params.read()
        p = self.params
        if problem is not None:
            return self._fail(parameter_failure(problem))
        if p.hri_enabled:   # hri.id_prefix starts topic names: checked before any is made
            from mipnet_ros.ros.hri_output import check_id_prefix
            why = check_id_prefix(p.hri_id_prefix)
            if why:
                return self._fail(why)
        out_qos = qos_profile(p.qos_output_reliability, p.qos_output_depth)
        if p.hri_enabled:
            try:
                import hri_msgs.msg  # noqa: F401 - checked here so configure fails with a clear reason
            except ImportError as exc:
                return self._fail(f'hri.enabled is true but hri_msgs cannot be imported ({exc}): build hri_msgs '
                                  '(scripts/setup_env.sh) or set hri.enabled false')
            if p.publish_3d:
                try:
                    import tf2_msgs.msg  # noqa: F401 - the bodies' TF frames
                except ImportError as exc:
                    return self._fail(f'hri.enabled with publish_3d needs tf2_msgs for the body TF frames ({exc}): '
                                      'build it (scripts/setup_env.sh) or set publish_3d false')
        if p.publish_3d:
            from visualization_msgs.msg import MarkerArray

            from mipnet_ros.msg import PersonKeypoints3DArray
            self._pub_3d = self.create_lifecycle_publisher(PersonKeypoints3DArray, topics.KEYPOINTS_3D, out_qos)
            self._pub_markers = self.create_lifecycle_publisher(MarkerArray, topics.MARKERS_3D, out_qos)
        self._config_error = ''
        self._state = 'inactive'
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        ret = super().on_activate(state)
        if ret != TransitionCallbackReturn.SUCCESS:
            return ret
        p = self.params
        if p.hri_enabled:
            from mipnet_ros.ros.hri_output import HriOutput
            self._hri = HriOutput(self, p.qos_output_depth, p.hri_max_bodies, p.hri_id_prefix,
                                  cropped=p.hri_cropped, tf=p.publish_3d)
            self._hri_timer = self.create_timer(HRI_EXPIRE_PERIOD_SEC, self._expire_bodies)
        self._subscribe(p)
        self._state = 'active'
        inputs = [self.resolve_topic_name(topics.KEYPOINTS)]
        if p.publish_3d:
            inputs += [self.resolve_topic_name(topics.DEPTH_IMAGE), self.resolve_topic_name(topics.CAMERA_INFO)]
        self.get_logger().info('active: waiting for ' + ', '.join(inputs))
        return TransitionCallbackReturn.SUCCESS

    def _release(self) -> None:
        for pub in (self._pub_3d, self._pub_markers):
            if pub is not None:
                self.destroy_lifecycle_publisher(pub)
        self._pub_3d = self._pub_markers = None

    def stop_processing(self) -> None:
        """Unsubscribe and close the ROS4HRI output (before destroy_node)."""
        self._unsubscribe()
        self._close_hri()

    def _close_hri(self) -> None:
        if self._hri_timer is not None:
            self.destroy_timer(self._hri_timer)
            self._hri_timer = None
        if self._hri is not None:
            self._hri.close()
            self._hri = None

    def _expire_bodies(self) -> None:
        """Bodies end after hri.body_timeout_sec without any keypoints message, too."""
        hri = self._hri
        if hri is not None:
            hri.expire(self.params.hri_body_timeout_sec + HRI_EXPIRE_GRACE_SEC)
            with self._lock:
                self.stats.hri_bodies = len(hri.bodies)

    # ------------------------------------------------------------------ subscriptions
    def _subscribe(self, p: Keypoints3DParams) -> None:
        import message_filters
        from sensor_msgs.msg import CameraInfo, Image

        from mipnet_ros.msg import PersonKeypointsArray
        kp_qos = qos_profile(p.qos_keypoints_reliability, p.qos_keypoints_depth)
        images = []
        if p.hri_enabled and p.hri_cropped:   # /cropped cuts the body out of the image with the keypoints stamp
            images = [self.create_subscription(Image, topics.IMAGE, self._on_image,
                                               qos_profile(p.qos_image_reliability, p.qos_depth_depth))]
        if not p.publish_3d:
            self._subs = [self.create_subscription(PersonKeypointsArray, topics.KEYPOINTS, self._on_keypoints,
                                                   kp_qos)] + images
            return
        depth_qos = qos_profile(p.qos_depth_reliability, p.qos_depth_depth)
        kp_sub = message_filters.Subscriber(self, PersonKeypointsArray, topics.KEYPOINTS, qos_profile=kp_qos)
        depth_sub = message_filters.Subscriber(self, Image, topics.DEPTH_IMAGE, qos_profile=depth_qos)
        kp_sub.registerCallback(self._on_keypoints)
        depth_sub.registerCallback(self._on_depth)
        if p.sync_approximate:
            self._sync = message_filters.ApproximateTimeSynchronizer([kp_sub, depth_sub], p.sync_queue_size,
                                                                     p.sync_slop_sec)
        else:
            self._sync = message_filters.TimeSynchronizer([kp_sub, depth_sub], p.sync_queue_size)
        self._sync.registerCallback(self._on_pair)
        self._subs = [kp_sub.sub, depth_sub.sub] + self._camera_info_subscriptions(CameraInfo, depth_qos) + images
        self._flush_timer = self.create_timer(0.05, self._flush_pending)

    def _camera_info_subscriptions(self, msg_type, depth_qos) -> List[Any]:
        """The volatile CameraInfo subscription (any driver); a latched one is added when a latched driver shows."""
        self._info_type = msg_type
        self._latched_info_sub = None
        self._latched_timer = self.create_timer(LATCHED_CHECK_SEC, self._watch_latched_info)
        return [self.create_subscription(msg_type, topics.CAMERA_INFO, self._on_camera_info, depth_qos)]

    def _watch_latched_info(self) -> None:
        """A driver that latches its CameraInfo (transient local, often published once before this node
        started) also gets a transient-local subscription, which receives the latched message. It is made
        only when such a publisher is seen: a volatile driver never meets a subscription it cannot serve
        (that would log an incompatible-QoS warning on the driver's side)."""
        if self._latched_info_sub is not None or self._info_type is None:
            return
        from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
        latched = [i.qos_profile for i in self.get_publishers_info_by_topic(self.resolve_topic_name(topics.CAMERA_INFO))
                   if i.qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL]
        if not latched:
            return
        reliable = any(q.reliability == ReliabilityPolicy.RELIABLE for q in latched)
        qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL,
                         reliability=ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT)
        self._latched_info_sub = self.create_subscription(self._info_type, topics.CAMERA_INFO, self._on_camera_info,
                                                          qos)
        self._subs.append(self._latched_info_sub)

    def _on_image(self, msg) -> None:
        self._count('images')
        hri = self._hri
        if hri is not None:
            hri.add_image(msg)

    def _unsubscribe(self) -> None:
        if self._latched_timer is not None:
            self.destroy_timer(self._latched_timer)
            self._latched_timer = None
        self._info_type = self._latched_info_sub = None
        for sub in self._subs:
            self.destroy_subscription(sub)
        self._subs = []
        self._sync = None
        if self._flush_timer is not None:
            self.destroy_timer(self._flush_timer)
            self._flush_timer = None
        self._cameras.clear()

    def _count(self, name: str, n: int = 1) -> None:
        with self._lock:
            setattr(self.stats, name, getattr(self.stats, name) + n)

    def _on_keypoints(self, msg) -> None:
        self._count('keypoints')
        hri = self._hri
        if hri is None:
            return
        try:
            report = hri.publish(msg, self.params.hri_body_timeout_sec)
        except Exception as exc:  # noqa: BLE001 - the 3D output goes on
            self._error(f'ROS4HRI output failed: {type(exc).__name__}: {exc}')
            return
        with self._lock:
            self.stats.hri_bodies = len(hri.bodies)
            self.stats.hri_untracked += report.untracked
            self.stats.hri_over_limit += report.over_limit
            self.stats.hri_late += int(report.late)
            self.stats.hri_cropped_missing += report.cropped_missing
        if report.untracked:
            self._log.warning('hri_untracked', f'{report.untracked} person(s) without track_id are not ROS4HRI bodies: '
                              'feed this node the tracked keypoints (mipnet_tracker)')
        if report.over_limit:
            self._log.warning('hri_over_limit', f'{report.over_limit} body(ies) beyond hri.max_bodies='
                              f'{self.params.hri_max_bodies} were not published')

    def _on_depth(self, msg) -> None:
        self._count('depth_images')

    def _on_camera_info(self, msg) -> None:
        if self._cameras.has_info(msg):   # the same CameraInfo through both subscriptions
            return
        self._count('camera_infos')
        self._cameras.add_info(msg)
        self._flush_pending()

    def _flush_pending(self) -> None:
        p = self.params
        for keypoints, depth in self._cameras.due(time.monotonic(), p.camera_info_wait_sec, p.sync_queue_size):
            self._handle(keypoints, depth)

    # ------------------------------------------------------------------ processing
    def _on_pair(self, keypoints, depth) -> None:
        self._count('paired')
        self._cameras.add_pair(keypoints, depth, time.monotonic())
        self._flush_pending()

    def _handle(self, keypoints, depth) -> None:
        try:
            self._process(keypoints, depth)
        except DepthInputError as exc:
            self._reject(exc.reason, str(exc))
        except Exception as exc:  # noqa: BLE001 - keep serving; diagnostics report it
            self._error(f'frame failed: {type(exc).__name__}: {exc}')

    def _process(self, keypoints, depth) -> None:
        p, pub = self.params, self._pub_3d
        if pub is None:
            return
        info = self._cameras.pick(depth, p.camera_info_max_age_sec, self.resolve_topic_name(topics.CAMERA_INFO))
        convert3d.check_alignment(keypoints, depth, info, p.require_same_frame)
        cam = convert3d.camera_from_info(info)
        depth_m = convert3d.depth_image_m(depth)
        results = convert3d.people_3d(keypoints, depth_m, cam, p.depth_options())
        msg = convert3d.people_3d_msg(keypoints, results)
        pub.publish(msg)
        hri = self._hri
        if hri is not None:
            n_tf = hri.publish_tf(keypoints, results)
            with self._lock:
                self.stats.hri_tf += n_tf
        valid = sum(int(ok.sum()) for _, ok in results)
        total = sum(len(ok) for _, ok in results)
        with self._lock:
            s = self.stats
            s.published += 1
            s.people_total += len(results)
            s.points_valid += valid
            s.points_total += total
        if results and valid == 0:
            with self._lock:
                self.stats.no_valid_depth += 1
            self._reject('no_valid_depth', 'no keypoint has a valid depth (0, NaN or outside depth.min..depth.max '
                                           'around every keypoint): check the depth stream and its alignment',
                         count=False)
        markers = self._pub_markers
        if p.publish_markers and markers is not None and markers.get_subscription_count() > 0:
            num_joints = len(keypoints.persons[0].x) if keypoints.persons else 0
            markers.publish(convert3d.markers_3d_msg(msg, edges_by_name(keypoints.skeleton, num_joints),
                                                     p.marker_line_width, p.marker_joint_size))

    def _reject(self, reason: str, message: str, count: bool = True) -> None:
        with self._lock:
            if count:
                self.stats.rejected += 1
            self.stats.reasons[reason] = self.stats.reasons.get(reason, 0) + 1
            self.stats.last_reason = f'{reason}: {message}'
        if self._log.throttle.ready(reason):
            self.get_logger().warning(f'depth frame {"rejected" if count else "without 3D"} ({reason}): {message}')

    def _warn(self, S, stat, key: str, message: str) -> None:
        """A WARN summary that is also logged (once per LOG_THROTTLE_SEC and key)."""
        stat.summary(S.WARN, message)
        if self._log.throttle.ready(key):
            self.get_logger().warning(message)

    def _error(self, message: str) -> None:
        with self._lock:
            self.stats.errors += 1
            self.stats.last_reason = message
        self._log.error('error', message)

    # ------------------------------------------------------------------ diagnostics
    def _diagnose(self, stat):
        from diagnostic_msgs.msg import DiagnosticStatus as S
        with self._lock:
            s = self.stats
            new_rejected, new_errors = s.rejected - s.reported_rejected, s.errors - s.reported_errors
            s.reported_rejected, s.reported_errors = s.rejected, s.errors
            v = dict(s.__dict__)
            v['reasons'] = dict(s.reasons)
        p = self.params
        if self._config_error:
            stat.summary(S.ERROR, f'configure failed: {self._config_error}')
        elif new_errors:
            stat.summary(S.ERROR, f'{new_errors} frame(s) failed: {v["last_reason"]}')
        elif self._state != 'active':
            stat.summary(S.OK, f'{self._state} (not processing)')
        elif new_rejected:
            stat.summary(S.WARN, f'{new_rejected} depth frame(s) rejected: {v["last_reason"]}')
        elif p.publish_3d and v['keypoints'] and not v['depth_images']:
            self._warn(S, stat, 'no_depth', f'keypoints arrive but no depth image on '
                       f'{self.resolve_topic_name(topics.DEPTH_IMAGE)} (topic, QoS reliability: qos.depth.reliability)')
        elif p.publish_3d and v['keypoints'] > 1 and v['depth_images'] and not v['paired']:
            self._warn(S, stat, 'no_pair', 'keypoints and depth images arrive but none pair: their header stamps '
                       'differ (see sync.approximate and sync.slop_sec)')
        elif v['no_valid_depth'] and v['points_valid'] == 0:
            stat.summary(S.WARN, 'no keypoint got a valid depth so far')
        else:
            stat.summary(S.OK, 'ok')
        stat.add('state', self._state)
        for key in ('keypoints', 'depth_images', 'camera_infos', 'paired', 'published', 'people_total',
                    'points_valid', 'points_total', 'rejected', 'no_valid_depth', 'errors', 'hri_bodies',
                    'hri_untracked', 'hri_over_limit', 'hri_late', 'hri_cropped_missing', 'hri_tf', 'images'):
            stat.add(key, str(v[key]))
        stat.add('rejected_reasons', ', '.join(f'{k}: {n}' for k, n in sorted(v['reasons'].items())))
        stat.add('last_reason', v['last_reason'])
        return stat


def main(args: Optional[List[str]] = None) -> int:
    from mipnet_ros.ros.lifecycle_main import run_lifecycle_node
    return run_lifecycle_node(Keypoints3DNode, NODE_NAME, args)


if __name__ == '__main__':
    sys.exit(main())
