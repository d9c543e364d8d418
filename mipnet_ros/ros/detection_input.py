"""The detections input: vision_msgs/Detection2DArray or yolo_ros's yolo_msgs/DetectionArray, one format inside.

yolo_msgs (GPL-3.0) is imported only when the user has it installed; its arrays are converted to
Detection2DArray so that box selection, pairing and the output messages see one format. With
`detections_type: auto` the message type is read from the graph (the topic's publishers) and the
subscription follows it, so a detector started after the node is still picked up.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

from mipnet_ros.ros import topics

VISION_MSGS, YOLO_MSGS, AUTO = 'vision_msgs', 'yolo_msgs', 'auto'
TYPE_STRINGS = {VISION_MSGS: topics.DETECTIONS_TYPE, YOLO_MSGS: topics.YOLO_DETECTIONS_TYPE}
YOLO_MSGS_MISSING = ("yolo_msgs is not installed or not sourced: build yolo_ros's yolo_msgs package "
                     '(GPL-3.0, https://github.com/mgonzs13/yolo_ros) in your workspace and source its '
                     "install/setup.bash, or publish vision_msgs/Detection2DArray (detections_type: vision_msgs)")


def message_class(kind: str):
    """The message class for 'vision_msgs' or 'yolo_msgs'; ImportError says how to get yolo_msgs."""
    if kind == YOLO_MSGS:
        try:
            from yolo_msgs.msg import DetectionArray
        except ImportError as exc:
            raise ImportError(YOLO_MSGS_MISSING) from exc
        return DetectionArray
    from vision_msgs.msg import Detection2DArray
    return Detection2DArray


def yolo_to_detection2d_array(msg: Any):
    """yolo_msgs/DetectionArray -> vision_msgs/Detection2DArray with the same header, boxes, ids and scores.

    The class is carried as yolo's class_name (e.g. 'person'), or its numeric class_id as a string when
    the name is empty, so `person_class_ids` means the same for both input types.
    """
    from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose
    out = Detection2DArray(header=msg.header)
    for det in msg.detections:
        d = Detection2D(header=msg.header, id=str(det.id))
        d.bbox.center.position.x = float(det.bbox.center.position.x)
        d.bbox.center.position.y = float(det.bbox.center.position.y)
        d.bbox.center.theta = float(det.bbox.center.theta)
        d.bbox.size_x, d.bbox.size_y = float(det.bbox.size.x), float(det.bbox.size.y)
        h = ObjectHypothesisWithPose()
        h.hypothesis.class_id = str(det.class_name) or str(int(det.class_id))
        h.hypothesis.score = float(det.score)
        d.results.append(h)
        out.detections.append(d)
    return out


def kind_on_graph(node: Any, resolved_topic: str) -> Optional[str]:
    """'vision_msgs' / 'yolo_msgs' as the topic's publishers send it; None while none publishes a known type.

    Publishers only: the node's own subscription would otherwise report the type it guessed.
    """
    published = {info.topic_type for info in node.get_publishers_info_by_topic(resolved_topic)}
    for kind, type_string in TYPE_STRINGS.items():
        if type_string in published:
            return kind
    return None


class DetectionsInput:
    """The detections subscription of a node; hands every array to `callback` as a Detection2DArray.

    requested: 'vision_msgs', 'yolo_msgs' or 'auto'. In auto mode `refresh()` (called from a timer)
    subscribes to the type the topic is published with, vision_msgs until a publisher shows up.
    """

    def __init__(self, node: Any, qos: Any, requested: str, callback: Callable[[Any], None],
                 on_problem: Callable[[str], None], event_callbacks: Any = None):
        self.node, self.qos, self.requested = node, qos, requested
        self.event_callbacks = event_callbacks          # QoS events (incompatible publishers) of the subscription
        self.callback, self.on_problem = callback, on_problem
        self.topic = node.resolve_topic_name(topics.DETECTIONS)
        self.kind: Optional[str] = None
        self._sub = None
        self._timer = None

    def start(self) -> None:
        if self.requested == AUTO:
            self._switch(kind_on_graph(self.node, self.topic) or VISION_MSGS)
            self._timer = self.node.create_timer(1.0, self.refresh)
        else:
            self._switch(self.requested)

    def refresh(self) -> None:
        kind = kind_on_graph(self.node, self.topic)
        if kind is not None and kind != self.kind:
            self._switch(kind)

    def stop(self) -> None:
        if self._timer is not None:
            self.node.destroy_timer(self._timer)
            self._timer = None
        if self._sub is not None:
            self.node.destroy_subscription(self._sub)
            self._sub = None
        self.kind = None

    def _switch(self, kind: str) -> None:
        try:
            msg_type = message_class(kind)
        except ImportError as exc:
            if kind != self.kind:
                self.on_problem(f'{self.topic} is published as {TYPE_STRINGS[kind]}, but {exc}')
            self.kind = kind
            return
        if self._sub is not None:
            self.node.destroy_subscription(self._sub)
        convert = yolo_to_detection2d_array if kind == YOLO_MSGS else None
        handler = (lambda msg: self.callback(convert(msg))) if convert else self.callback
        self._sub = self.node.create_subscription(msg_type, topics.DETECTIONS, handler, self.qos,
                                                  event_callbacks=self.event_callbacks)
        self.kind = kind
        self.node.get_logger().info(f'detections: subscribed to {self.topic} as {TYPE_STRINGS[kind]}')
