"""The small shared helpers of the runtime: launch booleans, the keyed log throttle, edges by skeleton name, the
moving average and the stamp conversion."""
from types import SimpleNamespace as NS

import pytest

from mipnet_ros.core.skeleton import COCO17, CROWDPOSE14, edges_by_name
from mipnet_ros.core.stats import moving_average
from mipnet_ros.ros.convert import stamp_to_ns
from mipnet_ros.ros.launch_args import is_true, true_expression
from mipnet_ros.ros.log_throttle import LogThrottle


@pytest.mark.parametrize('text, want', [('true', True), ('True', True), (' 1 ', True), ('yes', True),
                                        ('false', False), ('0', False), ('', False), ('on', False)])
def test_launch_booleans(text, want):
    assert is_true(text) is want
    # the launch-time expression agrees (what PythonExpression evaluates after substitution)
    assert eval(''.join(true_expression(text))) is want            # noqa: S307 - our own literal
    assert eval(''.join(true_expression('no', text))) is want      # noqa: S307


def test_log_throttle_is_per_key():
    now = [100.0]
    t = LogThrottle(5.0, clock=lambda: now[0])
    assert t.ready('a') and not t.ready('a') and t.ready('b')
    now[0] += 4.9
    assert not t.ready('a')
    now[0] += 0.2
    assert t.ready('a') and not t.ready('a')


def test_edges_by_name_and_fallbacks():
    assert edges_by_name('coco17') == COCO17.edges and edges_by_name('crowdpose', 14) == CROWDPOSE14.edges
    assert edges_by_name('', 17) == COCO17.edges and edges_by_name('unknown', 14) == CROWDPOSE14.edges
    assert edges_by_name('unknown', 5) == () and edges_by_name('', 0) == ()
    few = edges_by_name('coco17', 7)
    assert few and all(a < 7 and b < 7 for a, b in few)


def test_moving_average_and_stamps():
    assert moving_average(float('nan'), 8.0) == 8.0
    assert moving_average(10.0, 20.0) == pytest.approx(11.0)
    assert stamp_to_ns(NS(sec=12, nanosec=345)) == 12_000_000_345
