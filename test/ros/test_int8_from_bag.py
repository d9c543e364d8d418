"""int8 calibrated on a robot user's own recording: `export --int8 --calib-bag` on the bundled demo bag
with the bundled model, the image-folder fallback, and the agreement figure on the node's ~/model_info.

The crops must be the ones the node would run: each detection paired with the image of the same
stamp, cropped as the estimator crops. They are recomputed here independently from the bag.
"""
import json
import threading
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip('onnxruntime')
pytest.importorskip('rosbags')

from mipnet_ros import cli  # noqa: E402
from mipnet_ros.core import calibration  # noqa: E402
from mipnet_ros.core.errors import UsageError  # noqa: E402
from mipnet_ros.core.onnx_meta import calibration_record, int8_check_text, read_metadata, read_props  # noqa: E402
from mipnet_ros.core.resources import bundled_model_path  # noqa: E402
from mipnet_ros.core.transforms import box_to_center_scale, prepare_crops  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
DEMO_BAG = REPO / 'test' / 'data' / 'demo.mcap'
INPUT = (96, 64)     # the bundled model's input


def _bag_frames(bag):
    """{stamp: (bgr image, [person xyxy boxes])} read straight from the bag with rosbags."""
    from mipnet_ros.offline import bag_io
    images, boxes = {}, {}
    for topic, _, _, msg in bag_io.read_messages(str(bag)):
        stamp = msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec
        if msgtype_is_image(msg):
            images[stamp] = np.frombuffer(bytes(msg.data), np.uint8).reshape(msg.height, msg.width, 3).copy()
        else:
            boxes[stamp] = [[d.bbox.center.position.x - d.bbox.size_x / 2, d.bbox.center.position.y - d.bbox.size_y / 2,
                             d.bbox.center.position.x + d.bbox.size_x / 2, d.bbox.center.position.y + d.bbox.size_y / 2]
                            for d in msg.detections
                            if any(r.hypothesis.class_id == 'person' and r.hypothesis.score >= 0.3 for r in d.results)]
    return {s: (images[s], np.asarray(b, np.float32)) for s, b in boxes.items() if s in images and b}


def msgtype_is_image(msg) -> bool:
    return hasattr(msg, 'encoding')


def test_bag_crops_are_the_paired_person_crops():
    from mipnet_ros.offline.calibration import bag_crops
    frames = _bag_frames(DEMO_BAG)
    expected = np.concatenate([prepare_crops(img, b, INPUT)[0] for img, b in frames.values()])
    got = bag_crops(str(DEMO_BAG), INPUT, count=100)
    assert got.crops.shape == expected.shape and got.crops.dtype == np.float32
    # the same set of crops (the order is shuffled so the held-out ones come from the whole recording)
    for crop in expected:
        assert np.min(np.abs(got.crops - crop).reshape(len(got.crops), -1).max(1)) < 1e-5
    assert 'demo.mcap' in got.source and f'{len(expected)} of {len(expected)} boxes' in got.source
    few = bag_crops(str(DEMO_BAG), INPUT, count=3)
    assert len(few.crops) == 3


def test_detections_with_other_stamps_give_one_clear_reason(tmp_path):
    """A detector that stamps its output with its own clock pairs with nothing: say so, do not crash."""
    from mipnet_ros.offline import bag_io
    from mipnet_ros.offline.calibration import bag_crops
    shifted = tmp_path / 'shifted.mcap'
    with bag_io.BagWriter(str(shifted)) as w:
        for topic, msgtype, t_ns, msg in bag_io.read_messages(str(DEMO_BAG)):
            if 'detections' in topic:
                msg.header.stamp.nanosec += 1000
            w.write_msg(topic, msgtype, t_ns, msg)
    with pytest.raises(UsageError, match='same stamp'):
        bag_crops(str(shifted), INPUT, count=8)


@pytest.fixture(scope='module')
def int8_from_bag(tmp_path_factory):
    out = tmp_path_factory.mktemp('int8_bag') / 'bundled.onnx'
    argv = ['export', '--checkpoint', str(bundled_model_path()), '--onnx', str(out), '--int8',
            '--calib-bag', str(DEMO_BAG), '--calib-count', '16']
    assert cli.main(argv) == 0
    return out, out.with_name('bundled.int8.onnx')


def test_export_calib_bag_writes_a_checked_int8_file(int8_from_bag, capsys):
    fp32, int8 = int8_from_bag
    assert read_metadata(int8)['precision'] == 'int8' and read_metadata(fp32)['precision'] == 'fp32'
    record = calibration_record(read_props(int8))
    check = record['check']
    # 7 person boxes in the demo bag: at most half held out, the rest calibrate
    assert record['crops'] + check['crops'] == 7 and check['crops'] == 3
    assert 'demo.mcap' in record['source'] and check['enforced'] is True and check['min_agreement'] == 0.9
    assert 0.9 <= check['agreement'] <= 1.0 and check['confident_joints'] > 10
    text = int8_check_text(read_props(int8))
    assert f'{100 * check["agreement"]:.1f} % of {check["confident_joints"]} confident joints' in text


def test_refused_int8_leaves_no_file_and_benchmark_flag_marks_it(tmp_path):
    out = tmp_path / 'm.onnx'
    base = ['export', '--checkpoint', str(bundled_model_path()), '--onnx', str(out), '--int8',
            '--calib-bag', str(DEMO_BAG), '--calib-count', '8']
    assert cli.main(base + ['--min-agreement', '1.01']) == 1
    assert out.is_file() and not out.with_name('m.int8.onnx').exists()
    assert cli.main(base + ['--min-agreement', '1.01', '--unchecked-int8-for-benchmarks']) == 0
    props = read_props(out.with_name('m.int8.onnx'))
    assert calibration_record(props)['check']['enforced'] is False
    assert 'NOT checked' in int8_check_text(props)


def test_calibration_source_mistakes_are_one_line(tmp_path, capsys):
    model = str(bundled_model_path())
    cases = [(['--int8'], '--calib-bag'),
             (['--calib-bag', str(DEMO_BAG)], 'add --int8'),
             (['--int8', '--calib-bag', str(DEMO_BAG), '--calib-images', str(tmp_path)], 'one calibration source'),
             (['--int8', '--calib-bag', str(DEMO_BAG), '--calib-image-topic', '/nope'], "'/nope' is not in the bag")]
    for extra, words in cases:
        assert cli.main(['export', '--checkpoint', model, '--onnx', str(tmp_path / 'x.onnx'), *extra]) == 2, extra
        err = capsys.readouterr().err.strip()
        assert err.startswith('export: error:') and words in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / 'x.onnx').exists()


def test_centre_box_crop_spans_the_image_height():
    """The documented detector-free policy: the crop the estimator makes of the box covers the frame's height."""
    for shape in ((480, 640), (425, 640), (640, 300)):
        box = calibration.centre_box(shape, INPUT)
        (cx, cy), (sw, sh) = (v[0] for v in box_to_center_scale(box[None], INPUT))
        assert (cx, cy) == pytest.approx((shape[1] / 2, shape[0] / 2))
        assert sh / sw == pytest.approx(INPUT[0] / INPUT[1], rel=1e-5)
        # the crop spans the image height (landscape) or its width at the model's aspect (portrait)
        assert sh == pytest.approx(min(shape[0], shape[1] * INPUT[0] / INPUT[1]), rel=1e-5)


def test_image_folder_fallback_with_centre_boxes_and_boxes_json(tmp_path):
    import cv2
    frames = list(_bag_frames(DEMO_BAG).values())[:3]
    for i, (img, _) in enumerate(frames):
        cv2.imwrite(str(tmp_path / f'f{i}.png'), img)
    centre = calibration.folder_crops(tmp_path, INPUT, count=10)
    assert centre.crops.shape == (3, 3) + INPUT and 'one centre box per image' in centre.source
    want = prepare_crops(frames[0][0], calibration.centre_box(frames[0][0].shape, INPUT)[None], INPUT)[0][0]
    assert np.min(np.abs(centre.crops - want).reshape(3, -1).max(1)) < 1e-5
    boxes = {f'f{i}.png': b.tolist() for i, (_, b) in enumerate(frames)}
    (tmp_path / 'boxes.json').write_text(json.dumps(boxes))
    given = calibration.folder_crops(tmp_path, INPUT, count=10, boxes_json=tmp_path / 'boxes.json')
    expected = np.concatenate([prepare_crops(img, b, INPUT)[0] for img, b in frames])
    assert given.crops.shape == expected.shape
    for crop in expected:
        assert np.min(np.abs(given.crops - crop).reshape(len(given.crops), -1).max(1)) < 1e-5
    (tmp_path / 'bad.json').write_text('[1, 2]')
    with pytest.raises(UsageError, match='expected an object'):
        calibration.folder_crops(tmp_path, INPUT, count=10, boxes_json=tmp_path / 'bad.json')


def test_onnx_threads_as_configured_and_auto():
    from mipnet_ros.core.backends import OnnxBackend
    from mipnet_ros.core.device import auto_cpu_threads
    path = bundled_model_path().with_suffix('.onnx')
    one = OnnxBackend(path, device='cpu', intra_op_threads=1)
    assert one.session.get_session_options().intra_op_num_threads == 1
    assert 'onnxruntime 1 intra-op thread(s) (as configured)' in one.notes
    auto = OnnxBackend(path, device='cpu')
    n, why = auto_cpu_threads()
    assert auto.session.get_session_options().intra_op_num_threads == n == auto.intra_op_threads
    assert any(why in note for note in auto.notes)
    with pytest.raises(ValueError):
        OnnxBackend(path, device='cpu', intra_op_threads=-1)


def test_node_model_info_shows_the_int8_agreement_and_threads(int8_from_bag):
    """What a robot engineer reads on ~/model_info after loading the int8 file: its agreement and the threads."""
    rclpy = pytest.importorskip('rclpy')
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.lifecycle import TransitionCallbackReturn
    from rclpy.parameter import Parameter

    from mipnet_ros.msg import PoseModelInfo
    from mipnet_ros.offline.launcher import domain_id_for
    from mipnet_ros.ros.params import qos_profile
    from mipnet_ros.ros.pose_node import MipnetNode
    _, int8 = int8_from_bag
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=domain_id_for(__file__))
    node = probe = executor = None
    got, ready = [], threading.Event()
    try:
        node = MipnetNode(namespace='int8_info', context=ctx, parameter_overrides=[
            Parameter('model', value=str(int8)), Parameter('backend', value='onnxruntime'),
            Parameter('device', value='cpu'), Parameter('intra_op_threads', value=1),
            Parameter('autostart', value=False), Parameter('warmup', value=False)])
        probe = rclpy.create_node('int8_info_probe', context=ctx)
        probe.create_subscription(PoseModelInfo, '/int8_info/mipnet_node/model_info',
                                  lambda m: (got.append(m), ready.set()),
                                  qos_profile('reliable', 1, transient_local=True))
        executor = SingleThreadedExecutor(context=ctx)
        executor.add_node(node)
        executor.add_node(probe)
        ok = TransitionCallbackReturn.SUCCESS
        assert node.trigger_configure() == ok and node.trigger_activate() == ok
        spin = threading.Thread(target=executor.spin, daemon=True)
        spin.start()
        assert ready.wait(60.0), 'no ~/model_info'
        info = got[0]
        check = calibration_record(read_props(int8))['check']
        assert info.precision == 'int8' and info.backend == 'onnxruntime'
        assert f'{100 * check["agreement"]:.1f} % of {check["confident_joints"]} confident joints' in info.device_reason
        assert 'onnxruntime 1 intra-op thread(s) (as configured)' in info.device_reason
    finally:
        if executor is not None:
            executor.shutdown(timeout_sec=2.0)
        for n in (probe, node):
            if n is not None:
                n.destroy_node()
        rclpy.try_shutdown(context=ctx)
