"""mipnet_node: a lifecycle node that turns (image, person detections) into everyone's keypoints.

    image + detections --(stamp pairing)--> 1-slot mailbox --> worker thread (ros/worker.py)
        --> PoseEstimator (boxes x lambda batch, OKS-NMS) --> keypoints, markers, annotated image

Why a worker thread and a 1-slot mailbox: the subscription callbacks stay cheap, so the executor keeps
serving lifecycle services, parameters and diagnostics while the network runs, and a network slower
than the camera works on the newest frame instead of a growing backlog.
"""
from __future__ import annotations

import gc
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, List, Optional

import numpy as np
from rcl_interfaces.msg import SetParametersResult
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn

from mipnet_ros.core.skeleton import edges_by_name
from mipnet_ros.core.stats import moving_average
from mipnet_ros.ros import convert, detection_input, failures, topics
from mipnet_ros.ros.budget import BoxBudget
from mipnet_ros.ros.detection_policy import DetectionPolicy, PersonBox, select_person_boxes
from mipnet_ros.ros.input_health import InputHealth
from mipnet_ros.ros.log_throttle import ThrottledLog
from mipnet_ros.ros.pairing import LatestSlot, StampPairer
from mipnet_ros.ros.params import NodeParameters, qos_profile
from mipnet_ros.ros.pose_params import TABLE, PoseParams
from mipnet_ros.ros.qos_events import IncompatibleQosLog
from mipnet_ros.ros.worker import FrameWorker

NODE_NAME = topics.POSE_NODE
LOG_THROTTLE_SEC = 5.0
WORKER_EXIT_SEC = 1.0      # at shutdown, how long a frame in progress may still finish (dropped after)


@dataclass
class Frame:
    stamp_ns: int
    image: Any          # sensor_msgs/Image or CompressedImage
    detections: Any     # vision_msgs/Detection2DArray
    pairing_ms: float = 0.0


@dataclass
class PoseStats:
    """Counters for /diagnostics; written by callbacks and the worker, read by the updater."""
    images: int = 0
    detection_arrays: int = 0
    processed: int = 0
    people: int = 0                 # people published in the last processed frame
    people_total: int = 0
    rejected: int = 0               # images we cannot decode (encoding, layout)
    rejected_boxes: int = 0         # person boxes that cannot be run (NaN, no area, outside the image)
    boxes_cut: int = 0              # person boxes left out because the frame would exceed frame_budget_sec
    errors: int = 0                 # inference / publishing failures
    last_error: str = ''
    processing_ms: float = float('nan')
    processing_ms_mean: float = float('nan')
    frame_age_ms: float = float('nan')
    annotated_published: int = 0
    markers_published: int = 0
    reported_dropped: int = 0       # dropped count at the previous diagnostics report
    reported_errors: int = 0
    rejected_reasons: dict = field(default_factory=dict)
    pairing_ms_mean: float = float('nan')   # time inside the image/detection callbacks (pairing + hand-off)
    model_ms_mean: float = float('nan')     # PoseEstimator call: crops, network, decode, OKS-NMS
    overhead_ms_mean: float = float('nan')  # everything else of a frame: conversion, boxes, message, publish


class MipnetNode(LifecycleNode):
    """Lifecycle: configure loads the model (FAILURE if it cannot; diagnostics then say ERROR); activate
    warms it up (`warmup`), publishes ~/model_info and subscribes; deactivate unsubscribes and ends the
    worker's generation (the waiting frame is dropped, one in progress cannot publish); cleanup frees the
    model. With `autostart` (default) it configures and activates itself (ros/lifecycle_main.py)."""

    def __init__(self, node_name: str = NODE_NAME, **kwargs):
        super().__init__(node_name, **kwargs)
        self._log = ThrottledLog(lambda: self.get_logger(), LOG_THROTTLE_SEC)   # repeated lines, per reason
        self._node_params = NodeParameters(self, TABLE)   # (rclpy's Node owns self._parameters)
        self.params: PoseParams = self._node_params.read()[0]
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self.stats = PoseStats()
        self._stats_lock = threading.Lock()
        self._state = 'unconfigured'
        self._estimator = None
        self._model_error = ''
        self._configured: Optional[PoseParams] = None   # the parameters the model was built with
        self._pairer: Optional[StampPairer] = None
        self._slot: LatestSlot[Frame] = LatestSlot()
        self._pairing_ms = 0.0
        self._worker = FrameWorker(self._slot, self._process, self._on_frame_error)
        self._generation = 0
        self._budget = BoxBudget()
        self._qos_log = IncompatibleQosLog(self.get_logger(), LOG_THROTTLE_SEC)
        self._subs: List[Any] = []
        self._pub_kp = self._pub_markers = self._pub_annotated = self._pub_info = None
        self._edges: List[Any] = []
        # per-frame stage durations in ms, newest last: the node-overhead benchmark reads them
        self.stage_times: 'deque[dict]' = deque(maxlen=1000)

        import diagnostic_updater
        self._updater = diagnostic_updater.Updater(self, period=1.0)
        self._updater.setHardwareID('mipnet')
        self._updater.add('pose estimation', self._diagnose)

    # ------------------------------------------------------------------ parameters
    def _on_set_parameters(self, changes) -> SetParametersResult:
        # Non-live parameters are stored by rclpy and read at the next configure.
        before = self.params
        why, self.params = self._node_params.live_update(self.params, changes)
        if not why and self.params.instance_threshold != before.instance_threshold and self._state == 'active':
            self._publish_model_info()      # ~/model_info states the threshold in use
        return SetParametersResult(successful=not why, reason=why)

    # ------------------------------------------------------------------ lifecycle
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.params, problem = self._node_params.read()
        p = self.params
        if problem is not None:
            self._model_error = failures.parameter_failure(problem)
            self.get_logger().error(self._model_error)
            return TransitionCallbackReturn.FAILURE
        try:
            # inside the try: messages that were not built/sourced are a configure failure with its fix
            from mipnet_ros.msg import PersonKeypointsArray, PoseModelInfo
            if p.detections_type == detection_input.YOLO_MSGS:
                detection_input.message_class(p.detections_type)
            self._estimator = self._build_estimator(p)
        except Exception as exc:  # noqa: BLE001 - any load failure is reported, not raised
            self._model_error = failures.configure_failure(exc, p)
            self.get_logger().error(self._model_error)
            self._estimator = None
            return TransitionCallbackReturn.FAILURE
        self._model_error = ''
        self._configured = p
        skeleton = self._estimator.skeleton
        self._edges = edges_by_name(skeleton.name, skeleton.num_joints)
        from sensor_msgs.msg import Image
        from visualization_msgs.msg import MarkerArray
        out_qos = qos_profile(p.qos_output_reliability, p.qos_output_depth)
        events = self._qos_log.publisher_callbacks
        self._pub_kp = self.create_lifecycle_publisher(PersonKeypointsArray, topics.KEYPOINTS, out_qos,
                                                       event_callbacks=events(topics.KEYPOINTS))
        self._pub_markers = self.create_lifecycle_publisher(MarkerArray, topics.MARKERS, out_qos,
                                                            event_callbacks=events(topics.MARKERS))
        self._pub_annotated = self.create_lifecycle_publisher(Image, topics.ANNOTATED_IMAGE, out_qos,
                                                              event_callbacks=events(topics.ANNOTATED_IMAGE))
        self._pub_info = self.create_lifecycle_publisher(
            PoseModelInfo, topics.MODEL_INFO, qos_profile('reliable', 1, transient_local=True),
            event_callbacks=events(topics.MODEL_INFO))
        self._pairer = StampPairer(p.cache_size, int(round(p.stamp_slop_sec * 1e9)), max_bytes=p.cache_max_mb << 20)
        self._budget = BoxBudget()
        self._state = 'inactive'
        spec = self._estimator.spec
        choice = getattr(self._estimator, 'device_choice', None)
        self.get_logger().info(
            f'configured: {spec.arch} N={spec.instances} input {tuple(spec.input_size)} '
            f'({self._estimator.layout} graph) from {getattr(self._estimator, "model_path", "?")} on {p.backend} '
            f'{choice.summary() if choice is not None else p.device}')
        return TransitionCallbackReturn.SUCCESS

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        p = self._configured
        if p.warmup:
            try:
                self._warm_up()
            except Exception as exc:  # noqa: BLE001
                self._model_error = failures.activate_failure(exc, p)
                self.get_logger().error(self._model_error)
                return TransitionCallbackReturn.FAILURE
        ret = super().on_activate(state)   # enables the lifecycle publishers
        if ret != TransitionCallbackReturn.SUCCESS:
            return ret
        self._generation = self._worker.activate()
        self._publish_model_info()
        self._subscribe(p)
        self._state = 'active'
        self.get_logger().info(f'active: waiting for {self._image_topic()} and '
                               f'{self.resolve_topic_name(topics.DETECTIONS)}')
        return TransitionCallbackReturn.SUCCESS

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._unsubscribe()
        self._worker.deactivate()
        if self._pairer is not None:
            self._pairer.clear()
            self._warn_unmatched()
        self._state = 'inactive'
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._worker.deactivate()
        self._release()
        self._state = 'unconfigured'
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._unsubscribe()
        self._worker.deactivate()
        self._release()
        self._state = 'finalized'
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._unsubscribe()
        self._worker.deactivate()
        self._release()
        self._state = 'unconfigured'
        return TransitionCallbackReturn.SUCCESS

    # ------------------------------------------------------------------ model
    def _build_estimator(self, p: PoseParams):
        """The model of these parameters; the library checks every value (a ParameterError names the wrong one)."""
        import warnings

        from mipnet_ros.core.estimator import PoseEstimator
        from mipnet_ros.core.estimator_factory import prepare_model
        from mipnet_ros.core.model.checkpoint import AUTO_ARCH
        input_size = (p.input_height, p.input_width) if p.input_height > 0 else None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            prepared = prepare_model(
                p.model or None, arch=p.arch or AUTO_ARCH, backend=p.backend, device=p.device, instances=p.instances,
                input_size=input_size, fp16=p.fp16, max_batch=p.max_batch, providers=p.providers,
                trt_cache_dir=p.trt_cache_dir or None, allow_fallback=p.allow_fallback,
                allow_download=p.allow_download, intra_op_threads=p.intra_op_threads)
        for w in caught:   # fallbacks and other load-time warnings belong in the ROS log, not on stderr
            self.get_logger().warning(str(w.message))
        # the node filters with its live instance_threshold in people_to_msg
        return PoseEstimator(prepared, flip=p.flip, keypoint_threshold=p.keypoint_threshold,
                             oks_nms_threshold=p.oks_nms_threshold, instance_threshold=0.0)

    def _warm_up(self) -> None:
        h, w = (int(v) for v in self._estimator.spec.input_size)
        image = np.zeros((2 * h, 2 * w, 3), np.uint8)
        t0 = time.perf_counter()
        self._estimator(image, np.array([[w / 2, h / 2, 1.5 * w, 1.5 * h]], np.float32))
        self._budget.warmup(time.perf_counter() - t0)        # logged only: the warm-up never sets the estimate

    def _release(self) -> None:
        for pub in (self._pub_kp, self._pub_markers, self._pub_annotated, self._pub_info):
            if pub is not None:
                self.destroy_lifecycle_publisher(pub)
        self._pub_kp = self._pub_markers = self._pub_annotated = self._pub_info = None
        had_model = self._estimator is not None
        self._estimator = None
        self._pairer = None
        if had_model:
            gc.collect()
            torch = sys.modules.get('torch')
            if torch is not None and torch.cuda.is_available():
                torch.cuda.empty_cache()

    def _publish_model_info(self) -> None:
        from std_msgs.msg import Header
        p = self._configured
        header = Header(stamp=self.get_clock().now().to_msg(), frame_id='')
        choice = getattr(self._estimator, 'device_choice', None)
        msg = convert.model_info_msg(
            header, self._estimator, p.backend, choice.device if choice is not None else p.device,
            p.keypoint_threshold, self.params.instance_threshold, p.oks_nms_threshold)
        if choice is not None:
            msg.precision, msg.device_reason = choice.precision, choice.summary()
        self._worker.gate.publish(self._generation, self._pub_info, msg)

    # ------------------------------------------------------------------ subscriptions
    def _image_topic(self) -> str:
        return self.resolve_topic_name(topics.image_topic(self._configured.image_transport))

    def _subscribe(self, p: PoseParams) -> None:
        from sensor_msgs.msg import CompressedImage, Image
        img_type = CompressedImage if p.image_transport == 'compressed' else Image
        img_topic = topics.image_topic(p.image_transport)
        health = self._health = InputHealth(self._image_topic(), self.resolve_topic_name(topics.DETECTIONS))

        def on_image(msg):
            health.image(convert.stamp_to_ns(msg.header.stamp))
            self._on_image(msg)

        def on_detections(msg):
            health.detections(convert.stamp_to_ns(msg.header.stamp))
            self._on_detections(msg)

        def on_problem(text):
            self._input_error = text
            self.get_logger().error(text)

        self._input_error = ''
        dets = detection_input.DetectionsInput(
            self, qos_profile(p.qos_detections_reliability, p.qos_detections_depth), p.detections_type,
            on_detections, on_problem, event_callbacks=self._qos_log.subscription_callbacks(topics.DETECTIONS))
        dets.start()
        self._subs = [
            self.create_subscription(img_type, img_topic, on_image,
                                     qos_profile(p.qos_image_reliability, p.qos_image_depth),
                                     event_callbacks=self._qos_log.subscription_callbacks(img_topic)),
            dets,
        ]

    def _unsubscribe(self) -> None:
        for sub in self._subs:
            if isinstance(sub, detection_input.DetectionsInput):
                sub.stop()
            else:
                self.destroy_subscription(sub)
        self._subs = []

    def _on_image(self, msg) -> None:
        t0 = time.perf_counter()
        with self._stats_lock:
            self.stats.images += 1
        pairer = self._pairer
        if pairer is not None:
            self._submit(pairer.add_image(convert.stamp_to_ns(msg.header.stamp), msg), t0)

    def _on_detections(self, msg) -> None:
        t0 = time.perf_counter()
        with self._stats_lock:
            self.stats.detection_arrays += 1
        pairer = self._pairer
        if pairer is not None:
            self._submit(pairer.add_detections(convert.stamp_to_ns(msg.header.stamp), msg), t0)

    def _warn_unmatched(self) -> None:
        """WARN only when stamps never pair; a detector slower than the camera leaves images unmatched normally."""
        pairer, health = self._pairer, getattr(self, '_health', None)
        if pairer is None or health is None:
            return
        why = health.stamp_mismatch(self.params.stale_frame_age_sec, pairer.stats)
        if why:
            self._log.warning('unmatched', f'unmatched inputs: {why}')

    def _submit(self, pair, t0: float) -> None:
        self._warn_unmatched()
        spent_ms = (time.perf_counter() - t0) * 1e3
        with self._stats_lock:
            self._pairing_ms += spent_ms   # both callbacks of a frame count towards its pairing time
        if pair is not None:
            stamp, image, dets = pair
            with self._stats_lock:
                pairing_ms, self._pairing_ms = self._pairing_ms, 0.0
            self._slot.put(Frame(stamp, image, dets, pairing_ms), key=stamp)

    # ------------------------------------------------------------------ worker
    def stop_processing(self, timeout: float = WORKER_EXIT_SEC) -> bool:
        """Unsubscribe and end the worker thread; False if a frame was still running after `timeout` s
        (it can no longer publish, but the process should then exit without finalisation)."""
        self._unsubscribe()
        return self._worker.shutdown(timeout)

    def destroy_node(self) -> None:
        self.stop_processing()
        super().destroy_node()

    def _on_frame_error(self, exc: BaseException, stale: bool) -> None:
        if stale:       # the node was deactivated or cleaned up under this frame: nothing to report
            self.get_logger().debug(f'frame dropped at a transition: {type(exc).__name__}: {exc}')
            return
        with self._stats_lock:
            self.stats.errors += 1
            self.stats.last_error = f'{type(exc).__name__}: {exc}'
        self._log.error('frame_failed', f'frame failed: {type(exc).__name__}: {exc}')

    def _process(self, frame: Frame, generation: int) -> None:
        t0 = time.perf_counter()
        try:
            bgr = convert.image_msg_to_bgr(frame.image)
        except convert.ImageConversionError as exc:
            with self._stats_lock:
                self.stats.rejected += 1
                self.stats.rejected_reasons[exc.reason] = self.stats.rejected_reasons.get(exc.reason, 0) + 1
            self._log.warning(('image', exc.reason), f'image rejected ({exc.reason}): {exc}')
            return
        live, conf, est = self.params, self._configured, self._estimator
        pub_kp, pub_markers, pub_annotated = self._pub_kp, self._pub_markers, self._pub_annotated
        if est is None or pub_kp is None:
            return
        selection = select_person_boxes(frame.detections.detections, DetectionPolicy.from_params(live),
                                        image_shape=bgr.shape[:2])
        if selection.rejected:
            with self._stats_lock:
                self.stats.rejected_boxes += sum(selection.rejected.values())
            self._log.warning('boxes_rejected', selection.rejection_log())
        boxes = self._cut_to_budget(selection.boxes, live)
        t_model = time.perf_counter()
        people = est(bgr, np.stack([b.xyxy for b in boxes]).astype(np.float32),
                     box_scores=np.array([b.score for b in boxes])) if boxes else []
        t_message = time.perf_counter()
        self._budget.record(len(boxes), t_message - t_model)
        header = frame.image.header
        msg = convert.people_to_msg(header, bgr.shape[:2], str(getattr(est.skeleton, 'name', '')), people, boxes,
                                    conf.keypoint_threshold, live.instance_threshold)
        t_publish = time.perf_counter()
        gate = self._worker.gate
        if not gate.publish(generation, pub_kp, msg):
            return              # deactivated meanwhile: the frame finishes into nothing
        t_visualize = time.perf_counter()
        want_markers = live.publish_markers and gate.run(generation, pub_markers.get_subscription_count, default=0) > 0
        want_image = live.publish_annotated and gate.run(generation, pub_annotated.get_subscription_count,
                                                         default=0) > 0
        if want_markers or want_image:
            from mipnet_ros.ros import visualize
            from mipnet_ros.ros.person_record import read_people
            drawn = read_people(msg)
            if want_markers:
                gate.publish(generation, pub_markers,
                             visualize.markers_msg(header, drawn, self._edges, scale=live.marker_scale))
            if want_image:
                gate.publish(generation, pub_annotated,
                             convert.bgr_to_image_msg(visualize.draw_people(bgr, drawn, self._edges), header))
            with self._stats_lock:
                self.stats.markers_published += int(want_markers)
                self.stats.annotated_published += int(want_image)
        t_end = time.perf_counter()
        dt_ms = (t_end - t0) * 1e3
        stages = {'pairing': frame.pairing_ms, 'convert': (t_model - t0) * 1e3, 'model': (t_message - t_model) * 1e3,
                  'message': (t_publish - t_message) * 1e3, 'publish': (t_visualize - t_publish) * 1e3,
                  'visualize': (t_end - t_visualize) * 1e3, 'people': len(msg.persons), 'boxes': len(boxes)}
        self.stage_times.append(stages)
        overhead_ms = dt_ms - stages['model'] - stages['visualize'] + stages['pairing']
        age_ms = (self.get_clock().now().nanoseconds - frame.stamp_ns) / 1e6
        with self._stats_lock:
            s = self.stats
            s.processed += 1
            s.people = len(msg.persons)
            s.people_total += len(msg.persons)
            s.processing_ms = dt_ms
            s.processing_ms_mean = moving_average(s.processing_ms_mean, dt_ms)
            s.model_ms_mean = moving_average(s.model_ms_mean, stages['model'])
            s.overhead_ms_mean = moving_average(s.overhead_ms_mean, overhead_ms)
            s.pairing_ms_mean = moving_average(s.pairing_ms_mean, frame.pairing_ms)
            s.frame_age_ms = age_ms

    def _cut_to_budget(self, boxes: List[PersonBox], live: PoseParams) -> List[PersonBox]:
        """The best-scoring boxes that fit in frame_budget_sec (`boxes` come best first; all when they fit)."""
        allowed = self._budget.allowed(len(boxes), live.frame_budget_sec)
        if allowed >= len(boxes):
            return boxes
        cut = len(boxes) - allowed
        with self._stats_lock:
            self.stats.boxes_cut += cut
        self._log.warning(
            'boxes_cut',
            f'{cut} of {len(boxes)} person box(es) left out (lowest scores): at '
            f'{self._budget.sec_per_box * 1e3:.0f} ms per box the frame would exceed frame_budget_sec='
            f'{live.frame_budget_sec:g} s (raise it, or lower max_boxes)')
        return boxes[:allowed]

    def estimator_spec(self):
        """ModelSpec of the loaded model (None before configure)."""
        return None if self._estimator is None else self._estimator.spec

    # ------------------------------------------------------------------ diagnostics
    @property
    def dropped(self) -> int:
        return self._slot.dropped

    def _diagnose(self, stat):
        from diagnostic_msgs.msg import DiagnosticStatus
        with self._stats_lock:
            s = self.stats
            dropped = self._slot.dropped
            pairing = self._pairer.stats if self._pairer is not None else None
            new_drops = dropped - s.reported_dropped
            new_errors = s.errors - s.reported_errors
            s.reported_dropped, s.reported_errors = dropped, s.errors
            values = dict(s.__dict__)
            values['rejected_reasons'] = dict(s.rejected_reasons)
        health = getattr(self, '_health', None)
        input_problem = None
        if health is not None:
            health.processed(values['processed'])
            health.paired(pairing.paired if pairing else 0)
            if self._state == 'active':
                input_problem = health.problem(self.params.stale_frame_age_sec)
        if self._model_error:
            stat.summary(DiagnosticStatus.ERROR, self._model_error)
        elif self._state == 'active' and getattr(self, '_input_error', ''):
            stat.summary(DiagnosticStatus.ERROR, self._input_error)
        elif new_errors > 0:
            stat.summary(DiagnosticStatus.ERROR, f'{new_errors} frame(s) failed: {values["last_error"]}')
        elif self._state != 'active':
            stat.summary(DiagnosticStatus.OK, f'{self._state} (not processing)')
        elif new_drops > 0:
            stat.summary(DiagnosticStatus.WARN, f'dropped {new_drops} frame(s): processing slower than the input')
        elif input_problem:
            stat.summary(DiagnosticStatus.WARN, input_problem)
        else:
            stat.summary(DiagnosticStatus.OK, 'ok')
        stat.add('state', self._state)
        stat.add('model', str(getattr(self._estimator, 'model_path', '') or ''))
        choice = getattr(self._estimator, 'device_choice', None)
        stat.add('device', f'{choice.device} {choice.precision}' if choice is not None else '')
        stat.add('processing_time_ms', f'{values["processing_ms"]:.1f}')
        stat.add('processing_time_ms_mean', f'{values["processing_ms_mean"]:.1f}')
        stat.add('frame_age_ms', f'{values["frame_age_ms"]:.1f}')
        stat.add('seconds_since_last_frame',
                 f'{health.seconds_since_processed():.1f}' if health is not None and self._state == 'active' else '')
        stamp_diff = health.closest_stamp_difference_ms() if health is not None else None
        stat.add('closest_stamp_difference_ms', '' if stamp_diff is None else f'{stamp_diff:.1f}')
        stat.add('model_time_ms_mean', f'{values["model_ms_mean"]:.1f}')
        stat.add('node_overhead_ms_mean', f'{values["overhead_ms_mean"]:.2f}')
        stat.add('people', str(values['people']))
        stat.add('people_total', str(values['people_total']))
        stat.add('images_received', str(values['images']))
        stat.add('detection_arrays_received', str(values['detection_arrays']))
        stat.add('frames_processed', str(values['processed']))
        stat.add('dropped', str(dropped))
        stat.add('unmatched_images', str(pairing.unmatched_images if pairing else 0))
        stat.add('unmatched_detections', str(pairing.unmatched_detections if pairing else 0))
        stat.add('rejected_images', str(values['rejected']))
        stat.add('rejected_boxes', str(values['rejected_boxes']))
        stat.add('boxes_cut', str(values['boxes_cut']))
        stat.add('rejected_reasons', ', '.join(f'{k}: {v}' for k, v in sorted(values['rejected_reasons'].items())))
        stat.add('errors', str(values['errors']))
        stat.add('annotated_published', str(values['annotated_published']))
        stat.add('markers_published', str(values['markers_published']))
        return stat


def main(args: Optional[List[str]] = None) -> int:
    from mipnet_ros.ros.lifecycle_main import run_lifecycle_node
    return run_lifecycle_node(MipnetNode, NODE_NAME, args)


if __name__ == '__main__':
    sys.exit(main())
