"""PoseEstimator end to end with a small random-weight model saved as a real checkpoint."""
import warnings
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip('torch')

from mipnet_ros.core import transforms  # noqa: E402
from mipnet_ros.core.codec import HeatmapCodec, merge_flip  # noqa: E402
from mipnet_ros.core.estimator import Person, PoseEstimator  # noqa: E402

SIZE = (96, 64)      # small input keeps the test fast; the pipeline is size-agnostic


pytestmark = pytest.mark.usefixtures('one_torch_thread')


@pytest.fixture(scope='module')
def ckpt(tmp_path_factory):
    from mipnet_ros.core.model.checkpoint import save_checkpoint
    from mipnet_ros.core.model.registry import ModelSpec, build_model
    torch.manual_seed(0)
    model = build_model(ModelSpec('hrnet_w16s', instances=2, input_size=SIZE)).eval()
    path = tmp_path_factory.mktemp('model') / 'tiny.pth'
    save_checkpoint(path, model)
    return path


@pytest.fixture(scope='module')
def est(ckpt):
    # random weights score far below the default instance threshold: keep every prediction
    return PoseEstimator(ckpt, oks_nms_threshold=None, instance_threshold=0.0)


@pytest.fixture(scope='module')
def image():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (360, 480, 3), dtype=np.uint8)
    img[100:300, 50:150] = (40, 200, 90)      # some structure so the heatmaps are not all alike
    return img


BOXES = np.array([[40, 60, 160, 320], [300, 20, 420, 200], [250, 150, 330, 350]], float)


def test_metadata(est, ckpt):
    assert est.spec.instances == 2 and est.skeleton.name == 'coco17' and est.num_instances == 2
    assert est.model_path == str(ckpt) and len(est.model_hash) == 64
    assert est.input_size == SIZE


def test_outputs_shapes_count_and_box_mapping(est, image):
    people = est(image, BOXES)
    assert len(people) == len(BOXES) * 2                       # NMS off: every (box, lambda)
    assert all(isinstance(p, Person) for p in people)
    assert sorted((p.box_index, p.instance) for p in people) == [(b, i) for b in range(3) for i in range(2)]
    assert [p.score for p in people] == sorted((p.score for p in people), reverse=True)
    centers, scales = transforms.box_to_center_scale(BOXES, SIZE)
    for p in people:
        assert p.keypoints.shape == (17, 2) and p.keypoints.dtype == np.float32
        assert p.keypoint_scores.shape == (17,)
        # every keypoint lies in the (padded) crop region of the box it is attributed to
        lo = centers[p.box_index] - scales[p.box_index] / 2 - 1
        hi = centers[p.box_index] + scales[p.box_index] / 2 + 1
        assert (p.keypoints >= lo).all() and (p.keypoints <= hi).all(), p.box_index


def test_person_score_is_the_confident_sum_over_all_joints_with_decay(est, image):
    people = est(image, BOXES, box_scores=np.array([1.0, 0.5, 0.8]))
    for p in people:   # mean of the confident joints x the fraction confident (core/person_score.py)
        conf = p.keypoint_scores[p.keypoint_scores > est.keypoint_threshold]
        expected = conf.sum() / len(p.keypoint_scores)
        expected *= (0.5 if p.instance > 0 else 1.0) * [1.0, 0.5, 0.8][p.box_index]
        assert p.score == pytest.approx(expected, rel=1e-5, abs=1e-7)


def test_estimate_batch_matches_people(est, image):
    kp, sc = est.estimate_batch(image, BOXES)
    assert kp.shape == (3, 2, 17, 2) and sc.shape == (3, 2, 17)
    for p in est(image, BOXES):
        np.testing.assert_array_equal(p.keypoints, kp[p.box_index, p.instance])


def test_bad_boxes_dropped_and_index_kept(est, image):
    bad = np.array([[np.nan, 0, 10, 10], [0, 0, np.inf, 5], [50, 50, 50, 90], [60, 60, 40, 80],
                    [1000, 1000, 1100, 1200]], float)
    mixed = np.concatenate([bad[:2], BOXES[:1], bad[2:], BOXES[1:]])   # valid rows: 2, 5, 6
    people = est(image, mixed)
    assert sorted({p.box_index for p in people}) == [2, 6, 7]    # the bad rows are skipped with a warning
    ref = {(p.box_index, p.instance): p for p in est(image, BOXES)}
    remap = {2: 0, 6: 1, 7: 2}
    for p in people:
        np.testing.assert_allclose(p.keypoints, ref[(remap[p.box_index], p.instance)].keypoints, atol=1e-3)
    kp, sc = est.estimate_batch(image, mixed)
    assert kp.shape[0] == len(mixed) and np.isnan(kp[[0, 1, 3, 4, 5]]).all() and not sc[[0, 1, 3, 4, 5]].any()
    with pytest.raises(ValueError, match='x, y, w, h'):      # most finite rows have x2 <= x1: a format mistake
        est(image, bad)
    assert est(image, bad[[0, 1, 4]]) == []                     # NaN, inf, outside: nothing to run, no error
    assert est(image, np.zeros((0, 4))) == [] and est(image, []) == []


def test_shared_trunk_equals_per_instance(ckpt, est, image):
    per = PoseEstimator(ckpt, shared_trunk=False, oks_nms_threshold=None)
    a_kp, a_sc = est.estimate_batch(image, BOXES)
    b_kp, b_sc = per.estimate_batch(image, BOXES)
    np.testing.assert_allclose(a_sc, b_sc, atol=1e-4)
    np.testing.assert_allclose(a_kp, b_kp, atol=1e-4)


def test_torch_and_onnxruntime_agree(ckpt, est, image, tmp_path, monkeypatch):
    pytest.importorskip('onnxruntime')
    monkeypatch.setenv('MIPNET_ROS_CACHE', str(tmp_path))
    ort_est = PoseEstimator(ckpt, backend='onnxruntime', oks_nms_threshold=None)
    assert ort_est.backend.layout == 'shared_trunk' and ort_est.model_hash == est.model_hash
    a_kp, a_sc = est.estimate_batch(image, BOXES)
    b_kp, b_sc = ort_est.estimate_batch(image, BOXES)
    np.testing.assert_allclose(a_sc, b_sc, atol=1e-4)
    np.testing.assert_allclose(a_kp, b_kp, atol=1e-2)
    # the exported file is cached and can be loaded directly; asking torch for it switches backend
    onnx_files = list((tmp_path / 'onnx').glob('*.onnx'))
    assert len(onnx_files) == 1
    with pytest.warns(RuntimeWarning, match='onnxruntime'):
        direct = PoseEstimator(onnx_files[0], backend='torch', oks_nms_threshold=None)
    np.testing.assert_allclose(direct.estimate_batch(image, BOXES)[1], a_sc, atol=1e-4)


def test_oks_nms_removes_duplicate_boxes(ckpt, image):
    nms = PoseEstimator(ckpt, oks_nms_threshold=0.9, instance_threshold=0.0)
    single = nms(image, BOXES[:1])
    doubled = nms(image, np.repeat(BOXES[:1], 2, axis=0))
    assert len(doubled) == len(single) >= 1
    assert sorted(p.instance for p in doubled) == sorted(p.instance for p in single)


def test_instances_limit_and_errors(ckpt, est, image):
    one = PoseEstimator(ckpt, instances=1, oks_nms_threshold=None)
    kp1, sc1 = one.estimate_batch(image, BOXES)
    kp, sc = est.estimate_batch(image, BOXES)
    assert kp1.shape == (3, 1, 17, 2)
    np.testing.assert_allclose(kp1[:, 0], kp[:, 0], atol=1e-4)
    with pytest.raises(ValueError, match='N=2'):
        PoseEstimator(ckpt, instances=3)
    with pytest.raises(ValueError, match='uint8'):
        est(image.astype(np.float32), BOXES)
    with pytest.raises(ValueError, match='boxes'):
        est(image, np.zeros((2, 3)))
    gray = est.estimate_batch(image[..., 1], BOXES[:1])[0]
    assert gray.shape == (1, 2, 17, 2)
    with pytest.raises(FileNotFoundError):
        PoseEstimator(Path(ckpt).with_name('missing.pth'))


def test_flip_merges_mirrored_prediction(ckpt, image):
    flip = PoseEstimator(ckpt, flip=True, oks_nms_threshold=None)
    kp, sc = flip.estimate_batch(image, BOXES)
    crops, centers, scales = transforms.prepare_crops(image, BOXES, SIZE)
    model = flip.backend.model
    with torch.no_grad():
        hm = model.forward_shared(torch.from_numpy(crops), 2).numpy()
        hm_f = model.forward_shared(torch.from_numpy(np.ascontiguousarray(crops[..., ::-1])), 2).numpy()
    merged = merge_flip(hm, hm_f, flip.skeleton.flip_pairs)
    coords, maxvals = HeatmapCodec(SIZE).decode(merged)
    np.testing.assert_allclose(sc, np.clip(maxvals, 0, 1), atol=1e-5)    # scores are clipped to [0, 1]
    back = transforms.heatmap_to_image(coords, centers, scales, (SIZE[0] // 4, SIZE[1] // 4))
    np.testing.assert_allclose(kp, back, atol=1e-3)


def test_bundled_model_is_found_only_through_installed_share_dirs(monkeypatch, tmp_path):
    from mipnet_ros.core import resources
    found = resources.bundled_model_path()
    assert found.name == resources.BUNDLED_MODEL + '.pth' and found.parent.name == 'models'
    # A share directory named by MIPNET_SHARE wins; no share directory at all is a clear error.
    (tmp_path / 'models').mkdir()
    (tmp_path / 'models' / (resources.BUNDLED_MODEL + '.onnx')).write_bytes(b'x')
    monkeypatch.setenv('MIPNET_SHARE', str(tmp_path))
    assert resources.bundled_model_path(('.onnx',)) == tmp_path / 'models' / (resources.BUNDLED_MODEL + '.onnx')
    monkeypatch.setenv('MIPNET_SHARE', str(tmp_path / 'absent'))
    monkeypatch.setenv('AMENT_PREFIX_PATH', str(tmp_path / 'absent'))
    monkeypatch.setattr(resources.sys, 'prefix', str(tmp_path / 'absent'))
    with pytest.raises(FileNotFoundError, match='model=PATH'):
        resources.bundled_model_path()


def test_in_memory_model_and_warnings_on_cpu_fp16():
    from mipnet_ros.core.model.registry import ModelSpec, build_model
    torch.manual_seed(1)
    model = build_model(ModelSpec('hrnet_w16s', instances=1, input_size=SIZE)).eval()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        est = PoseEstimator(model, fp16=True, instance_threshold=0.0)
    assert any('fp16' in str(w.message) for w in caught)
    assert est.model_path is None and est.num_instances == 1
    people = est(np.zeros((100, 100, 3), np.uint8), [[10, 10, 60, 90]])
    assert len(people) == 1 and people[0].instance == 0


def test_built_by_the_factory_apart_from_running_frames(tmp_path, monkeypatch):
    """prepare_model reads the checkpoint once; PoseEstimator(prepared) runs it with its own thresholds."""
    from mipnet_ros import PreparedModel, prepare_model
    from mipnet_ros.core.model import checkpoint
    from mipnet_ros.core.model.untrained import write_untrained_checkpoint
    path = write_untrained_checkpoint(tmp_path / 'random.pth')
    reads = []
    real = checkpoint._read
    monkeypatch.setattr(checkpoint, '_read', lambda *a, **k: reads.append(a[0]) or real(*a, **k))
    prepared = prepare_model(str(path), device='cpu', instances=0)
    assert len(reads) == 1 and isinstance(prepared, PreparedModel)
    assert prepared.num_instances == prepared.spec.instances          # 0 = all the model has
    a = PoseEstimator(prepared, instance_threshold=0.0)
    b = PoseEstimator(prepared, instance_threshold=1.0)
    assert a.backend is b.backend and a.device_choice is prepared.device_choice and len(reads) == 1
    image = np.full((200, 160, 3), 127, np.uint8)
    boxes = np.array([[20, 20, 140, 180]], np.float32)
    people = a(image, boxes)
    assert people and all(p.score < 1.0 for p in people)        # threshold 0 returns every surviving prediction
    assert b(image, boxes) == []                                 # the same model, a threshold no score reaches


def test_instances_has_one_meaning(tmp_path):
    """Lambdas run per box: 1..N of a file that records N; for an official file it also sets N."""
    import torch

    from mipnet_ros import ParameterError, prepare_model
    from mipnet_ros.core.model.checkpoint import load_checkpoint
    from mipnet_ros.core.model.untrained import write_untrained_checkpoint
    ours = write_untrained_checkpoint(tmp_path / 'ours.pth')
    n = load_checkpoint(ours).spec.instances
    assert prepare_model(str(ours), device='cpu', instances=1).num_instances == 1
    assert prepare_model(str(ours), device='cpu', instances=None).num_instances == n
    with pytest.raises(ParameterError) as err:
        prepare_model(str(ours), device='cpu', instances=n + 1)
    assert err.value.parameter == 'instances'
    with pytest.raises(ParameterError) as err:
        prepare_model(str(ours), device='cpu', instances=1.5)
    assert err.value.parameter == 'instances'
    official = tmp_path / 'official.pth'
    torch.save({'state_dict': load_checkpoint(ours).state_dict()}, official)   # the same weights, no spec
    for count in (2, 3):
        prepared = prepare_model(str(official), arch=load_checkpoint(ours).spec.arch, device='cpu', instances=count)
        assert prepared.num_instances == count and prepared.spec.instances == count
