"""One box-screening rule: per-box reasons and the two systemic mistakes, the same for the API and the node."""
import numpy as np
import pytest

from mipnet_ros.core import box_screen, inputs
from mipnet_ros.core.errors import UsageError

SHAPE = (480, 640)


def test_each_bad_box_gets_its_reason_and_the_good_ones_stay():
    boxes = np.array([[10, 10, 50, 90], [np.nan, 0, 10, 10], [50, 50, 40, 90], [1000, 1000, 1100, 1200],
                      [-40, -30, 5, 8], [600, 400, 700, 500]], np.float64)
    s = box_screen.screen_boxes(boxes, SHAPE)
    assert list(s.valid) == [True, False, False, False, True, True]      # partly inside is inside
    assert s.reasons == ['', 'nonfinite', 'size', 'outside', '', '']
    assert s.systemic is None and s.counts() == {'nonfinite': 1, 'size': 1, 'outside': 1}
    assert set(s.counts()) <= set(box_screen.REJECT_HINTS)


def test_without_the_image_only_the_box_itself_is_checked():
    s = box_screen.screen_boxes(np.array([[1000, 1000, 1100, 1200], [0.1, 0.1, 0.5, 0.9]]), None)
    assert list(s.valid) == [True, True] and s.systemic is None


def test_normalised_boxes_are_systemic_and_all_rejected():
    boxes = np.array([[0.1, 0.2, 0.4, 0.9], [0.5, 0.1, 0.7, 0.8], [np.nan, 0, 1, 1]])
    s = box_screen.screen_boxes(boxes, SHAPE)
    assert s.systemic == 'normalized' and not s.valid.any()
    assert s.reasons == ['normalized', 'normalized', 'nonfinite']
    # one pixel box among them: the frame is in pixels, the tiny boxes are just tiny
    s = box_screen.screen_boxes(np.vstack([boxes[:2], [[100, 50, 220, 400]]]), SHAPE)
    assert s.systemic is None and s.valid.all()
    # a 1x1 image with a 1x1 box is tiny, not normalised
    assert box_screen.screen_boxes(np.array([[0, 0, 1, 1]]), (1, 1)).valid.all()


def test_mostly_xywh_boxes_are_systemic_a_few_are_not():
    xywh = np.array([[280.8, 44.7, 218.7, 346.7], [300, 60, 100, 200], [20, 30, 600, 400]])
    s = box_screen.screen_boxes(xywh, SHAPE)
    assert s.systemic == 'xywh' and s.reasons == ['size', 'size', '']
    assert 'x, y, w, h' in box_screen.swap_hint(xywh)
    one_bad = np.array([[10, 10, 50, 90], [20, 20, 80, 90], [50, 50, 40, 90]])
    assert box_screen.screen_boxes(one_bad, SHAPE).systemic is None


def test_the_api_raises_on_systemic_mistakes_and_notes_the_rest():
    with pytest.raises(UsageError, match=r'x, y, w, h: convert with boxes\[:, 2:\] \+= boxes\[:, :2\]'):
        inputs.check_boxes([[280.8, 44.7, 218.7, 346.7]], SHAPE)
    with pytest.raises(UsageError, match=r'normalised.*multiply them by \(640, 480, 640, 480\)'):
        inputs.check_boxes([[0.1, 0.2, 0.4, 0.9]], SHAPE)
    arr, ok, notes = inputs.check_boxes([[10, 10, 50, 90], [np.nan, 0, 10, 10], [1000, 1000, 1100, 1200]], SHAPE)
    assert arr.shape == (3, 4) and list(ok) == [True, False, False]
    assert [reason for reason, _ in notes] == ['nonfinite', 'outside']
    assert 'NaN' in notes[0][1] and 'outside' in notes[1][1]
