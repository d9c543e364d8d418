"""Which detections the pose node runs (ros/detection_policy.py): classes, scores, the library's box rule, with
every rejection counted and explained, best score first so the frame budget keeps a prefix."""
import numpy as np
import pytest

vm = pytest.importorskip('vision_msgs.msg')
from mipnet_ros.core import box_screen  # noqa: E402
from mipnet_ros.ros.detection_policy import REJECT_HINTS, DetectionPolicy, Selection, person_score, select_person_boxes  # noqa: E402


def _det(box, score=0.9, det_id='', cls='person'):
    d = vm.Detection2D(id=det_id)
    x1, y1, x2, y2 = box
    d.bbox.center.position.x, d.bbox.center.position.y = (x1 + x2) / 2, (y1 + y2) / 2
    d.bbox.size_x, d.bbox.size_y = float(x2 - x1), float(y2 - y1)
    if cls is not None:
        r = vm.ObjectHypothesisWithPose()
        r.hypothesis.class_id, r.hypothesis.score = cls, score
        d.results.append(r)
    return d


def policy(classes=('person',), threshold=0.3, max_boxes=0, unlabeled=False):
    return DetectionPolicy(tuple(classes), threshold, max_boxes, unlabeled)


def test_person_boxes_filter_class_score_size_best_first():
    dets = [_det((0, 0, 10, 20), 0.9, 'a'), _det((0, 0, 5, 5), 0.99, 'car', 'car'),
            _det((10, 10, 30, 40), 0.5, 'b', '0'), _det((1, 1, 4, 4), 0.2, 'low', '1'),
            _det((5, 5, 5, 9), 0.8, 'flat'), _det((2, 2, 8, 8), 0.0, 'unlabeled', None),
            _det((40, 40, 60, 90), 0.7, 'c')]
    got = select_person_boxes(dets, policy(('person', '0', '1')))
    assert [(b.index, b.id) for b in got.boxes] == [(0, 'a'), (6, 'c'), (2, 'b')]       # best score first
    assert [b.score for b in got.boxes] == pytest.approx([0.9, 0.7, 0.5])
    assert np.allclose(got.boxes[2].xyxy, [10, 10, 30, 40]) and got.rejected == {'size': 1}
    best_two = select_person_boxes(dets, policy(('person', '0', '1'), max_boxes=2))
    assert [b.id for b in best_two.boxes] == ['a', 'c']
    unlabeled = select_person_boxes(dets, policy(threshold=0.0, unlabeled=True)).boxes
    assert [b.id for b in unlabeled] == ['unlabeled', 'a', 'c']                   # no hypothesis: score 1


def test_equal_scores_keep_the_array_order():
    dets = [_det((0, 0, 10, 20), 0.5, 'x'), _det((5, 0, 15, 20), 0.8, 'y'), _det((9, 0, 19, 20), 0.5, 'z')]
    assert [b.id for b in select_person_boxes(dets, policy()).boxes] == ['y', 'x', 'z']


def test_normalised_boxes_are_rejected_and_counted():
    dets = [_det((0.1, 0.2, 0.4, 0.9), det_id='a'), _det((0.5, 0.1, 0.7, 0.8), det_id='b')]
    got = select_person_boxes(dets, policy(), image_shape=(480, 640))
    assert got.boxes == [] and got.rejected == {'normalized': 2}
    assert 'normalised' in REJECT_HINTS['normalized']
    # a pixel box among them: the frame is in pixels, the tiny boxes are just tiny
    got = select_person_boxes(dets + [_det((100, 50, 220, 400), det_id='c')], policy(), image_shape=(480, 640))
    assert sorted(b.id for b in got.boxes) == ['a', 'b', 'c'] and got.rejected == {}


def test_every_rejection_is_counted_and_logged_with_its_fix():
    dets = [_det((np.nan, 0, 10, 10)), _det((50, 50, 40, 90)), _det((1000, 1000, 1100, 1200)),
            _det((10, 10, 50, 90), score=float('nan')), _det((10, 10, 50, 90))]
    got = select_person_boxes(dets, policy(), image_shape=(480, 640))
    assert [b.index for b in got.boxes] == [4]
    assert got.rejected == {'nonfinite': 1, 'size': 1, 'outside': 1, 'score': 1}
    line = got.rejection_log()
    assert line.startswith('4 detection box(es) rejected')
    for reason in got.rejected:
        assert f'{reason}: 1 ({REJECT_HINTS[reason]})' in line
    assert 'center + size' in line and Selection([]).rejection_log() == ''
    # every reason the library's rule can give has a hint in the detector's terms
    assert set(box_screen.REJECT_HINTS) - {'xywh'} <= set(REJECT_HINTS)


def test_person_score_takes_the_best_person_hypothesis():
    d = _det((0, 0, 10, 10), 0.4)
    extra = vm.ObjectHypothesisWithPose()
    extra.hypothesis.class_id, extra.hypothesis.score = '0', 0.6
    d.results.append(extra)
    assert person_score(d, ('person', '0'), False) == pytest.approx(0.6)
    assert person_score(d, ('car',), False) is None
    assert person_score(_det((0, 0, 1, 1), cls=None), ('person',), False) is None
    assert np.isnan(person_score(_det((0, 0, 1, 1), float('nan')), ('person',), False))


def test_the_budget_prefix_is_the_best_boxes_with_their_scores():
    dets = [_det((i * 10, 0, i * 10 + 8, 20), s, str(i)) for i, s in enumerate((0.4, 0.95, 0.6, 0.8))]
    boxes = select_person_boxes(dets, policy()).boxes
    kept = boxes[:2]                                            # what the node keeps when 2 boxes fit
    assert [(b.id, b.score) for b in kept] == [('1', pytest.approx(0.95)), ('3', pytest.approx(0.8))]
