"""Image and message conversion of the ROS layer (mipnet_ros/ros/convert.py)."""
from types import SimpleNamespace

import numpy as np
import pytest

cv2 = pytest.importorskip('cv2')
from mipnet_ros.ros import convert  # noqa: E402
from mipnet_ros.ros.convert import ImageConversionError  # noqa: E402
from mipnet_ros.ros.detection_policy import PersonBox  # noqa: E402
from mipnet_ros.ros.person_record import read_people  # noqa: E402


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


# ------------------------------------------------------------------ with ROS messages
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
    short = sm.Image(height=6, width=4, encoding='rgb8', step=step, data=data[:-1])   # one byte missing
    with pytest.raises(ImageConversionError) as err:
        convert.image_msg_to_bgr(short)
    assert err.value.reason == 'layout'


def test_people_to_msg_gives_each_person_its_own_id_box_and_visibility():
    std = pytest.importorskip('std_msgs.msg')
    header = std.Header(frame_id='cam')
    header.stamp.sec, header.stamp.nanosec = 12, 345
    boxes = [PersonBox(3, 'det-3', np.array([10, 20, 110, 220], np.float32), 0.75),
             PersonBox(5, '', np.array([0, 0, 50, 60], np.float32), 0.5)]
    front = np.stack([np.linspace(20, 60, 17), np.linspace(30, 200, 17)], axis=1).astype(np.float32)
    behind = front + np.float32(30.0)                          # the hidden person: shifted right and down
    scores = np.full(17, 0.9, np.float32)
    scores[4] = 0.05                                           # below the threshold: estimated, not trusted
    scores[5] = np.nan                                         # no estimate at all
    scores[6] = 1.7                                            # out of range: clipped
    people = [SimpleNamespace(keypoints=front, keypoint_scores=scores, score=0.8, box_index=0, instance=0),
              SimpleNamespace(keypoints=behind, keypoint_scores=scores, score=0.6, box_index=0, instance=1),
              SimpleNamespace(keypoints=front, keypoint_scores=scores, score=0.1, box_index=1, instance=0)]
    msg = convert.people_to_msg(header, (240, 100), 'coco17', people, boxes, 0.2, instance_threshold=0.3)
    assert msg.header.stamp.sec == 12 and msg.header.stamp.nanosec == 345 and msg.header.frame_id == 'cam'
    assert (msg.image_height, msg.image_width, msg.skeleton) == (240, 100, 'coco17')
    assert len(msg.persons) == 2                                  # the 0.1-score person is below 0.3
    a, b = msg.persons
    assert (a.id, b.id) == ('det-3#0', 'det-3#1')                 # two people, two identities
    assert (a.detection_id, a.detection_index, a.instance_index) == ('det-3', 3, 0)
    assert (b.detection_id, b.detection_index, b.instance_index) == ('det-3', 3, 1)
    assert a.detection_score == pytest.approx(0.75) and b.detection_score == pytest.approx(0.75)
    for p in (a, b):                                              # the crop box is shared, in its own field
        assert np.allclose(convert.bbox2d_to_xyxy(p.crop_bbox), [10, 20, 110, 220])
    # own boxes: the confident keypoints' extent padded by 25 %, clipped to the image [-0.5, W - 0.5]
    for p, kp in ((a, front), (b, behind)):
        sure = np.array(list(p.visibility)) == 2
        lo, hi = kp[sure].min(0), kp[sure].max(0)
        c, half = (lo + hi) / 2, (hi - lo) * 1.25 / 2
        want = np.clip([c[0] - half[0], c[1] - half[1], c[0] + half[0], c[1] + half[1]], -0.5, [99.5, 239.5] * 2)
        assert np.allclose(convert.bbox2d_to_xyxy(p.bbox), want, atol=1e-3)
    assert not np.allclose(convert.bbox2d_to_xyxy(a.bbox), convert.bbox2d_to_xyxy(b.bbox))
    assert list(a.visibility)[4:7] == [1, 0, 2]
    assert a.x[4] == pytest.approx(front[4, 0]) and (a.x[5], a.y[5]) == (0.0, 0.0)   # numbers, never NaN
    assert a.keypoint_scores[6] == 1.0 and a.keypoint_scores[5] == 0.0
    values = [v for p in msg.persons for v in list(p.x) + list(p.y) + list(p.keypoint_scores)
              + [p.score, p.detection_score, p.bbox.size_x, p.bbox.center.position.x, p.crop_bbox.size_y]]
    assert all(np.isfinite(values))
    back = read_people(msg)
    assert back[1].instance == 1 and back[0].keypoints.shape == (17, 2) and not back[0].repaired
    assert list(back[0].visibility[4:7]) == [1, 0, 2] and back[1].id == 'det-3#1'


def test_people_without_detection_ids_are_named_by_index_and_stay_unique():
    std = pytest.importorskip('std_msgs.msg')
    kp = np.tile(np.array([[15.0, 25.0]], np.float32), (17, 1))
    sc = np.full(17, 0.9, np.float32)
    boxes = [PersonBox(0, '', np.array([0, 0, 50, 60], np.float32), 1.0),
             PersonBox(1, 'dup', np.array([5, 5, 50, 60], np.float32), 1.0),
             PersonBox(2, 'dup', np.array([9, 9, 50, 60], np.float32), float('nan'))]
    people = [SimpleNamespace(keypoints=kp, keypoint_scores=sc, score=0.8, box_index=i, instance=0) for i in range(3)]
    msg = convert.people_to_msg(std.Header(), (100, 100), 'coco17', people, boxes, 0.2)
    ids = [p.id for p in msg.persons]
    assert ids[0] == '0#0' and ids[1] == 'dup#0' and len(set(ids)) == 3
    assert [p.detection_score for p in msg.persons] == [1.0] * 3   # a NaN detector score is published as 1
    # all keypoints at one point: still a box of at least one pixel, inside the image
    x1, y1, x2, y2 = convert.bbox2d_to_xyxy(msg.persons[0].bbox)
    assert x2 - x1 >= 1.0 and y2 - y1 >= 1.0 and x1 >= -0.5 and y2 <= 99.5
