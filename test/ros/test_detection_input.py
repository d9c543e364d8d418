"""yolo_msgs/DetectionArray -> Detection2DArray, read field by field (duck-typed: yolo_msgs need not be installed)."""
from types import SimpleNamespace as NS

import pytest

pytest.importorskip('vision_msgs')
from mipnet_ros.ros import convert, detection_input  # noqa: E402
from mipnet_ros.ros.detection_policy import DetectionPolicy, select_person_boxes  # noqa: E402


def yolo_det(cls_id, name, score, cx, cy, w, h, det_id=''):
    box = NS(center=NS(position=NS(x=cx, y=cy), theta=0.0), size=NS(x=w, y=h))
    return NS(class_id=cls_id, class_name=name, score=score, id=det_id, bbox=box)


def test_yolo_array_converts_boxes_classes_and_header():
    from std_msgs.msg import Header
    header = Header(frame_id='cam')
    header.stamp.sec, header.stamp.nanosec = 12, 345
    msg = NS(header=header, detections=[yolo_det(0, 'person', 0.8, 50.0, 60.0, 20.0, 40.0, 'a'),
                                        yolo_det(1, 'bicycle', 0.9, 10.0, 10.0, 4.0, 4.0, 'b'),
                                        yolo_det(0, '', 0.7, 30.0, 30.0, 10.0, 10.0)])
    out = detection_input.yolo_to_detection2d_array(msg)
    assert out.header == header and len(out.detections) == 3
    first = out.detections[0]
    assert first.id == 'a' and (first.bbox.size_x, first.bbox.size_y) == (20.0, 40.0)
    assert list(convert.bbox2d_to_xyxy(first.bbox)) == [40.0, 40.0, 60.0, 80.0]
    assert [d.results[0].hypothesis.class_id for d in out.detections] == ['person', 'bicycle', '0']
    assert out.detections[2].results[0].hypothesis.score == pytest.approx(0.7)
    # the default person classes take the person and the unnamed class 0, never the bicycle
    from mipnet_ros.ros.pose_params import PoseParams
    chosen = select_person_boxes(out.detections, DetectionPolicy.from_params(PoseParams())).boxes
    assert sorted(b.index for b in chosen) == [0, 2]


def test_missing_yolo_msgs_says_how_to_get_it(monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, 'yolo_msgs', None)
    monkeypatch.setitem(sys.modules, 'yolo_msgs.msg', None)
    with pytest.raises(ImportError) as err:
        detection_input.message_class(detection_input.YOLO_MSGS)
    assert 'yolo_ros' in str(err.value) and 'GPL-3.0' in str(err.value)


class FakeNode:
    """The few Node methods DetectionsInput uses, recording subscriptions."""

    def __init__(self, published_types):
        self.published_types = published_types
        self.subs, self.timers, self.logged = [], [], []

    def resolve_topic_name(self, name):
        return '/' + name

    def get_publishers_info_by_topic(self, topic):
        return [NS(topic_type=t) for t in self.published_types]

    def create_subscription(self, msg_type, topic, callback, qos, event_callbacks=None):
        self.subs.append(msg_type)
        return msg_type

    def destroy_subscription(self, sub):
        self.subs.remove(sub)

    def create_timer(self, period, callback):
        self.timers.append(callback)
        return callback

    def destroy_timer(self, timer):
        self.timers.remove(timer)

    def get_logger(self):
        return NS(info=self.logged.append)


def test_auto_follows_the_publishers_and_reports_a_missing_yolo_msgs(monkeypatch):
    import sys

    from vision_msgs.msg import Detection2DArray
    monkeypatch.setitem(sys.modules, 'yolo_msgs', None)
    monkeypatch.setitem(sys.modules, 'yolo_msgs.msg', None)
    node, problems = FakeNode([]), []
    dets = detection_input.DetectionsInput(node, None, 'auto', lambda m: None, problems.append)
    dets.start()
    assert node.subs == [Detection2DArray] and dets.kind == 'vision_msgs'   # nobody publishes yet
    node.published_types = ['yolo_msgs/msg/DetectionArray']                 # a yolo_ros detector starts
    node.timers[0]()
    assert len(problems) == 1 and 'yolo_msgs/msg/DetectionArray' in problems[0] and 'yolo_ros' in problems[0]
    node.timers[0]()
    assert len(problems) == 1                                               # said once, not every second
    dets.stop()
    assert node.subs == []
    assert node.timers == []
