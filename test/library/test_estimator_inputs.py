"""PoseEstimator's inputs: the common mistakes raise or warn with the fix; the API follows the node's policy."""
import warnings
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip('torch')

from mipnet_ros.core.errors import UsageError  # noqa: E402
from mipnet_ros.core.estimator import PoseEstimator  # noqa: E402
from mipnet_ros.core.resources import bundled_model_path  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
COCO = REPO.parent / 'shared' / 'data' / 'coco'
IMAGE_785 = COCO / '000000000785.jpg'
BOX_785_XYWH = [280.79, 44.73, 218.7, 346.68]        # the annotation of COCO 785, as COCO stores it (x, y, w, h)
BOX_785 = [280.79, 44.73, 280.79 + 218.7, 44.73 + 346.68]

pytestmark = pytest.mark.usefixtures('one_torch_thread')


@pytest.fixture(scope='module')
def est():
    return PoseEstimator()       # the bundled model (96x64)


@pytest.fixture(scope='module')
def image():
    if IMAGE_785.is_file():
        import cv2
        return cv2.imread(str(IMAGE_785))
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, (425, 640, 3), dtype=np.uint8)


def test_xywh_boxes_are_refused_with_the_conversion(est, image):
    with pytest.raises(UsageError, match=r'x, y, w, h: convert with boxes\[:, 2:\] \+= boxes\[:, :2\]'):
        est(image, [BOX_785_XYWH])
    fixed = np.array([BOX_785_XYWH])
    fixed[:, 2:] += fixed[:, :2]                     # the fix the message gives works
    assert est.estimate_batch(image, fixed)[0].shape == (1, 2, 17, 2)
    assert np.isfinite(est.estimate_batch(image, fixed)[0]).all()


def test_normalised_boxes_are_refused_with_the_scale(est, image):
    h, w = image.shape[:2]
    norm = np.array([BOX_785]) / [w, h, w, h]
    with pytest.raises(UsageError, match=rf'normalised.*multiply them by \({w}, {h}, {w}, {h}\)'):
        est(image, norm)


def test_bad_rows_among_good_ones_warn_once_and_keep_the_rest(image):
    est = PoseEstimator(instance_threshold=0.0, oks_nms_threshold=None)
    boxes = np.array([[np.nan, 1, 2, 3], BOX_785])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        first = est(image, boxes)
        est(image, boxes)
    assert [str(w.message) for w in caught].count(str(caught[0].message)) == 1 and 'NaN' in str(caught[0].message)
    assert {p.box_index for p in first} == {1}
    kp, _ = est.estimate_batch(image, boxes)
    assert np.isnan(kp[0]).all() and np.isfinite(kp[1]).all()


def test_pil_image_is_converted_from_rgb(est, image):
    from PIL import Image
    pil = Image.fromarray(np.ascontiguousarray(image[..., ::-1]))     # PIL holds RGB
    kp_pil, sc_pil = est.estimate_batch(pil, [BOX_785])
    kp_bgr, sc_bgr = est.estimate_batch(image, [BOX_785])
    np.testing.assert_array_equal(kp_pil, kp_bgr)
    np.testing.assert_array_equal(sc_pil, sc_bgr)
    # and the order matters: the same pixels read as BGR give other scores
    swapped = est.estimate_batch(np.ascontiguousarray(image[..., ::-1]), [BOX_785])[1]
    assert not np.array_equal(swapped, sc_bgr)
    gray = Image.fromarray(image[..., 1])
    assert est.estimate_batch(gray, [BOX_785])[0].shape == (1, 2, 17, 2)


@pytest.mark.parametrize('bad, words', [
    (None, 'cv2.imread returns None'),
    ('image.jpg', 'cv2.imread'),
    (Path('image.jpg'), 'cv2.imread'),
    (np.zeros((3, 40, 50), np.uint8), r'transpose\(1, 2, 0\)'),
    (np.zeros((40, 50, 3), np.float32), r'\* 255'),
    (np.zeros((40, 50, 3), np.uint16), '>> 8'),
    (np.zeros((0, 50, 3), np.uint8), 'empty'),
    (np.zeros((40, 50, 2), np.uint8), 'shape'),
])
def test_what_is_not_an_image_says_how_to_get_one(est, bad, words):
    with pytest.raises(UsageError, match=words):
        est(bad, [[1, 1, 20, 30]])


def test_box_shape_and_scores_are_checked(est, image):
    with pytest.raises(UsageError, match=r'box\[None\]'):
        est(image, np.array(BOX_785))
    with pytest.raises(UsageError, match=r'\(M, 4\)'):
        est(image, np.zeros((2, 3)))
    with pytest.raises(UsageError, match=r'\[0, 1\]'):
        est(image, [BOX_785], box_scores=[87.0])


def test_other_input_size_warns_with_both_sizes():
    with pytest.warns(RuntimeWarning, match=r'trained at input 96x64 .* runs at 256x192'):
        other = PoseEstimator(input_size=(256, 192))
    assert other.input_size == (256, 192)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        assert PoseEstimator(input_size=(96, 64)).input_size == (96, 64)


def test_same_policy_as_the_node(est, image):
    from mipnet_ros.ros.pose_params import PoseParams
    node = PoseParams()
    assert est.instance_threshold == node.instance_threshold == 0.3
    assert est.keypoint_threshold == node.keypoint_threshold and est.oks_nms_threshold == node.oks_nms_threshold
    assert node.instances == 0 and PoseEstimator(instances=0).num_instances == est.spec.instances == 2
    boxes = [BOX_785, [0, 0, 60, 60], [400, 300, 630, 420]]
    everything = PoseEstimator(instance_threshold=0.0)(image, boxes)
    kept = est(image, boxes)
    key = [(p.box_index, p.instance, p.score) for p in everything]
    assert [(p.box_index, p.instance, p.score) for p in kept] == [k for k in key if k[2] >= 0.3]
    assert len(everything) > len(kept)
    kp, sc = est.estimate_batch(image, boxes)
    assert sc.min() >= 0.0 and sc.max() <= 1.0
    assert all(0.0 <= p.score <= 1.0 and p.keypoint_scores.max() <= 1.0 for p in everything)


def test_bundled_model_is_the_one_the_docs_export_example_names():
    docs = ''.join(p.read_text() for p in [REPO / 'README.md', *sorted((REPO / 'docs').glob('*.md'))])
    assert f'export --checkpoint models/{bundled_model_path().name}' in docs
