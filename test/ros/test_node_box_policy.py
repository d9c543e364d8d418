"""The node's box selection applies the Python API's box checks without losing the good boxes."""
import numpy as np
import pytest

vm = pytest.importorskip('vision_msgs.msg')
from mipnet_ros.ros import convert  # noqa: E402


def _det(box, score=0.9, det_id=''):
    d = vm.Detection2D(id=det_id)
    x1, y1, x2, y2 = box
    d.bbox.center.position.x, d.bbox.center.position.y = (x1 + x2) / 2, (y1 + y2) / 2
    d.bbox.size_x, d.bbox.size_y = float(x2 - x1), float(y2 - y1)
    r = vm.ObjectHypothesisWithPose()
    r.hypothesis.class_id, r.hypothesis.score = 'person', score
    d.results.append(r)
    return d


def test_normalised_boxes_are_rejected_and_counted():
    dets = [_det((0.1, 0.2, 0.4, 0.9), det_id='a'), _det((0.5, 0.1, 0.7, 0.8), det_id='b')]
    rejected = {}
    assert convert.select_person_boxes(dets, ['person'], 0.3, 0, image_shape=(480, 640), rejected=rejected) == []
    assert rejected == {'normalized': 2}
    assert 'normalised' in convert.BOX_REJECT_HINTS['normalized']
    # a pixel box among them: the frame is in pixels, the tiny boxes are just tiny
    rejected = {}
    got = convert.select_person_boxes(dets + [_det((100, 50, 220, 400), det_id='c')], ['person'], 0.3, 0,
                                      image_shape=(480, 640), rejected=rejected)
    assert [did for _, did, _ in got] == ['a', 'b', 'c'] and rejected == {}
    # a 1x1 image with a 1x1 box is tiny, not normalised
    got = convert.select_person_boxes([_det((0, 0, 1, 1))], ['person'], 0.3, 0, image_shape=(1, 1))
    assert len(got) == 1 and np.allclose(got[0][2], [0, 0, 1, 1])


def test_every_rejection_reason_has_a_hint():
    dets = [_det((np.nan, 0, 10, 10)), _det((50, 50, 40, 90)), _det((1000, 1000, 1100, 1200)),
            _det((10, 10, 50, 90), score=float('nan')), _det((10, 10, 50, 90))]
    rejected = {}
    got = convert.select_person_boxes(dets, ['person'], 0.3, 0, image_shape=(480, 640), rejected=rejected)
    assert [i for i, _, _ in got] == [4]
    assert set(rejected) == {'nonfinite', 'size', 'outside', 'score'} <= set(convert.BOX_REJECT_HINTS)
