"""The node-overhead section of `bench --node`: the node in this process, frames over real DDS.

The node's own per-stage clocks must cover the frame (stages add up to no more than the wall
time between frames arriving), the model stage must dominate with a real network, and the
overhead figure must be exactly the sum of its named stages.
"""
import pytest

rclpy = pytest.importorskip('rclpy')
from mipnet_ros.tools.node_overhead import OVERHEAD_STAGES, deserialize_ms, measure_node_overhead  # noqa: E402
from mipnet_ros.tools.soak import FrameSource  # noqa: E402


def test_overhead_stages_are_measured_per_frame(one_torch_thread):
    people = 4
    r = measure_node_overhead(None, 'hrnet_w16s', (128, 96), instances=2, people=people, frames=3, warmup=1,
                              width=320, height=240, timeout=60.0)
    assert r['frames'] == 3 and r['people'] == people
    assert r['arch'] == 'hrnet_w16s' and r['input_size'] == [128, 96] and r['instances'] == 2
    for stage in OVERHEAD_STAGES:
        assert r[f'{stage}_ms'] >= 0.0, stage
    # every box was run (untrained weights may still publish fewer people after NMS / thresholds)
    assert r['model_ms'] > 0 and r['convert_ms'] > 0 and r['deserialize_ms'] > 0
    # the network on 4 boxes x 2 lambdas costs far more than turning a 320x240 image into numpy
    assert r['model_ms'] > 5 * r['convert_ms']
    assert r['overhead_over_model'] == pytest.approx(r['overhead_ms'] / r['model_ms'])


def test_deserialize_cost_grows_with_image_size():
    small = deserialize_ms(FrameSource(64, 48, 2, variants=1).frame(0, 1), repeats=30)
    large = deserialize_ms(FrameSource(1280, 960, 2, variants=1).frame(0, 1), repeats=30)
    assert 0 < small < large
