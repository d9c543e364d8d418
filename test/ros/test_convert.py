"""Image and message conversion of the ROS layer (mipnet_ros/ros/convert.py)."""
from types import SimpleNamespace

import numpy as np
import pytest

cv2 = pytest.importorskip('cv2')
from mipnet_ros.ros import convert  # noqa: E402
from mipnet_ros.ros.convert import ImageConversionError  # noqa: E402


def _image(h=7, w=5, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _pack(pixels: np.ndarray, pad: int) -> tuple:
    """Rows of `pixels` (H, W, C) with `pad` junk bytes at the end of each row, as a ROS payload."""
    h = pixels.shape[0]
    rows = pixels.reshape(h, -1)
    junk = np.full((h, pad), 77, np.uint8)
    data = np.concatenate([rows, junk], axis=1)
    return data.shape[1], data.tobytes()


# What each encoding's bytes are, built channel by channel (independent of the code under test).
def _encode(bgr: np.ndarray, enc: str) -> np.ndarray:
    b, g, r = bgr[..., 0], bgr[..., 1], bgr[..., 2]
    alpha = np.full_like(b, 200)
    return {'bgr8': np.stack([b, g, r], -1), 'rgb8': np.stack([r, g, b], -1),
            'bgra8': np.stack([b, g, r, alpha], -1), 'rgba8': np.stack([r, g, b, alpha], -1),
            'mono8': g[..., None]}[enc]


@pytest.mark.parametrize('enc', ['bgr8', 'rgb8', 'bgra8', 'rgba8', 'mono8'])
@pytest.mark.parametrize('pad', [0, 3])
def test_raw_encodings_to_bgr(enc, pad):
    bgr = _image()
    step, data = _pack(_encode(bgr, enc), pad)
    out = convert.raw_to_bgr(enc, bgr.shape[0], bgr.shape[1], step, 0, data)
    assert out.shape == bgr.shape and out.dtype == np.uint8 and out.flags['C_CONTIGUOUS']
    if enc == 'mono8':
        assert np.array_equal(out, np.repeat(bgr[..., 1:2], 3, axis=2))
    else:
        assert np.array_equal(out, bgr)


@pytest.mark.parametrize('enc', ['bgr8', 'rgb8', 'bgra8', 'rgba8'])
def test_bgr_to_raw_matches_the_encoding_and_round_trips(enc):
    bgr = _image(4, 6, seed=3)
    h, w, step, data = convert.bgr_to_raw(bgr, enc)
    assert (h, w) == bgr.shape[:2]
    channels = convert.RAW_ENCODINGS[enc][0]
    assert step == w * channels and len(data) == step * h
    assert np.array_equal(np.frombuffer(data, np.uint8).reshape(h, w, channels)[..., :3],
                          _encode(bgr, enc)[..., :3])
    assert np.array_equal(convert.raw_to_bgr(enc, h, w, step, 0, data), bgr)


def test_big_endian_flag_does_not_change_byte_channels():
    bgr = _image()
    step, data = _pack(bgr, 0)
    assert np.array_equal(convert.raw_to_bgr('bgr8', 7, 5, step, 1, data), bgr)


@pytest.mark.parametrize('enc', ['16UC1', 'mono16', 'bayer_rggb8', 'yuv422', '32FC1', '', 'jpeg'])
def test_unsupported_encodings_are_rejected(enc):
    with pytest.raises(ImageConversionError) as err:
        convert.raw_to_bgr(enc, 2, 2, 8, 0, bytes(16))
    assert err.value.reason == 'encoding'


@pytest.mark.parametrize('height,width,step,size,bigendian', [
    (4, 5, 14, 4 * 14, 0),       # step shorter than a row of bgr8 (15 bytes)
    (4, 5, 15, 4 * 15 - 1, 0),   # one byte missing
    (4, 5, 15, 4 * 15 + 15, 0),  # one row too many
    (4, 5, 15, 4 * 15, 2),       # is_bigendian must be 0/1
    (0, 5, 15, 0, 0),            # empty
])
def test_layout_mismatches_are_rejected(height, width, step, size, bigendian):
    with pytest.raises(ImageConversionError) as err:
        convert.raw_to_bgr('bgr8', height, width, step, bigendian, bytes(size))
    assert err.value.reason == 'layout'


def test_compressed_png_is_exact_and_jpeg_is_close():
    bgr = cv2.GaussianBlur(_image(32, 48, seed=5), (7, 7), 0)   # smooth, so JPEG error is small
    assert np.array_equal(convert.compressed_to_bgr('png', convert.compress_bgr(bgr, 'png')), bgr)
    dec = convert.compressed_to_bgr('bgr8; jpeg compressed bgr8', convert.compress_bgr(bgr, 'jpeg', 95))
    assert dec.shape == bgr.shape
    assert np.abs(dec.astype(int) - bgr.astype(int)).mean() < 4


def test_compressed_garbage_and_unknown_formats_are_rejected():
    with pytest.raises(ImageConversionError) as err:
        convert.compressed_to_bgr('jpeg', b'not a jpeg at all')
    assert err.value.reason == 'decode'
    with pytest.raises(ImageConversionError) as err:
        convert.compressed_to_bgr('jpeg', b'')
    assert err.value.reason == 'decode'
    with pytest.raises(ImageConversionError) as err:
        convert.compressed_to_bgr('tiff', convert.compress_bgr(_image(), 'png'))
    assert err.value.reason == 'encoding'


def test_masked_keypoints():
    kp = np.array([[1, 2], [3, 4], [5, 6], [np.nan, 1]], np.float32)
    sc = np.array([0.9, 0.1, np.nan, 0.8], np.float32)
    x, y, s = convert.masked_keypoints(kp, sc, 0.2)
    assert x[0] == 1 and y[0] == 2
    assert np.isnan(x[1]) and np.isnan(y[1]) and s[1] == pytest.approx(0.1)   # low score: position hidden
    assert np.isnan(x[2]) and np.isnan(s[2])
    assert np.isnan(x[3]) and np.isnan(y[3])


# ------------------------------------------------------------------ with ROS messages
def _det(cls, score, box, det_id=''):
    vm = pytest.importorskip('vision_msgs.msg')
    d = vm.Detection2D(id=det_id)
    x1, y1, x2, y2 = box
    d.bbox.center.position.x, d.bbox.center.position.y = (x1 + x2) / 2, (y1 + y2) / 2
    d.bbox.size_x, d.bbox.size_y = float(x2 - x1), float(y2 - y1)
    if cls is not None:
        r = vm.ObjectHypothesisWithPose()
        r.hypothesis.class_id, r.hypothesis.score = cls, score
        d.results.append(r)
    return d


def test_person_boxes_filter_class_score_size_and_count():
    dets = [_det('person', 0.9, (0, 0, 10, 20), 'a'), _det('car', 0.99, (0, 0, 5, 5), 'car'),
            _det('0', 0.5, (10, 10, 30, 40), 'b'), _det('1', 0.2, (1, 1, 4, 4), 'low'),
            _det('person', 0.8, (5, 5, 5, 9), 'flat'), _det(None, 0.0, (2, 2, 8, 8), 'unlabeled'),
            _det('person', 0.7, (40, 40, 60, 90), 'c')]
    got = convert.select_person_boxes(dets, ['person', '0', '1'], 0.3, 0)
    assert [(i, did) for i, did, _ in got] == [(0, 'a'), (2, 'b'), (6, 'c')]
    assert np.allclose(got[1][2], [10, 10, 30, 40])
    best_two = convert.select_person_boxes(dets, ['person', '0', '1'], 0.3, 2)
    assert [did for _, did, _ in best_two] == ['a', 'c']          # highest scores, original order
    assert [did for _, did, _ in convert.select_person_boxes(dets, ['person'], 0.0, 0, unlabeled_is_person=True)] \
        == ['a', 'unlabeled', 'c']


def test_image_msgs_to_bgr():
    sm = pytest.importorskip('sensor_msgs.msg')
    bgr = _image(6, 4)
    step, data = _pack(_encode(bgr, 'rgb8'), 2)
    msg = sm.Image(height=6, width=4, encoding='rgb8', step=step, data=data)
    assert np.array_equal(convert.image_msg_to_bgr(msg), bgr)
    comp = sm.CompressedImage(format='png', data=convert.compress_bgr(bgr, 'png'))
    assert np.array_equal(convert.image_msg_to_bgr(comp), bgr)
    back = convert.bgr_to_image_msg(bgr, msg.header, 'bgr8')
    assert back.encoding == 'bgr8' and back.step == 12 and np.array_equal(convert.image_msg_to_bgr(back), bgr)


def test_people_to_msg_passes_ids_indices_and_masks():
    std = pytest.importorskip('std_msgs.msg')
    header = std.Header(frame_id='cam')
    header.stamp.sec, header.stamp.nanosec = 12, 345
    boxes = [(3, 'det-3', np.array([10, 20, 110, 220], np.float32)), (5, '', np.array([0, 0, 50, 60], np.float32))]
    kp = np.tile(np.array([[15.0, 25.0]], np.float32), (17, 1))
    scores = np.full(17, 0.9, np.float32)
    scores[4] = 0.05
    people = [SimpleNamespace(keypoints=kp, keypoint_scores=scores, score=0.8, box_index=0, instance=0),
              SimpleNamespace(keypoints=kp + 1, keypoint_scores=scores, score=0.6, box_index=0, instance=1),
              SimpleNamespace(keypoints=kp, keypoint_scores=scores, score=0.1, box_index=1, instance=0)]
    msg = convert.people_to_msg(header, (480, 640), 'coco17', people, boxes, 0.2, instance_threshold=0.3)
    assert msg.header.stamp.sec == 12 and msg.header.stamp.nanosec == 345 and msg.header.frame_id == 'cam'
    assert (msg.image_height, msg.image_width, msg.skeleton) == (480, 640, 'coco17')
    assert len(msg.persons) == 2                                  # the 0.1-score person is below 0.3
    a, b = msg.persons
    assert (a.id, a.detection_index, a.instance_index) == ('det-3', 3, 0)
    assert (b.id, b.detection_index, b.instance_index) == ('det-3', 3, 1)
    assert a.bbox.center.position.x == pytest.approx(60) and a.bbox.size_y == pytest.approx(200)
    assert len(a.x) == 17 and np.isnan(a.x[4]) and a.x[0] == pytest.approx(15) and b.y[0] == pytest.approx(26)
    assert a.keypoint_scores[4] == pytest.approx(0.05)
    assert np.allclose(convert.bbox2d_to_xyxy(a.bbox), [10, 20, 110, 220])
    back = convert.msg_to_arrays(msg)
    assert back[1]['instance'] == 1 and back[0]['keypoints'].shape == (17, 2)
