"""The frame budget replayed on recorded timings: the warm-up does not seed it, a stall does not cut people.

The figures are those of a node on a loaded CPU (5 people per frame): the warm-up inference took 2.048 s for
one box, the frames after it under 120 ms per box, one frame stalled 2.5 s; the frame-to-frame jitter below
is written to that shape (slower first frames, then +-20 %).
"""
import pytest

from mipnet_ros.ros.budget import BoxBudget

BUDGET_SEC = 2.0
WARMUP_SEC = 2.048
# seconds the model took for the 5 boxes of each frame after activation (first frames slower: allocator growth)
START_UP = [0.98, 0.71, 0.55, 0.52, 0.60, 0.49, 0.51, 0.58, 0.50, 0.53]
STALL_SEC = 2.5


def replay(budget: BoxBudget, frames, boxes=5):
    """Allowed boxes per frame, each frame's time scaled to the boxes that ran (as the node records it)."""
    allowed = []
    for seconds in frames:
        n = budget.allowed(boxes, BUDGET_SEC)
        allowed.append(n)
        budget.record(n, seconds * n / boxes)
    return allowed


def test_the_warm_up_does_not_seed_the_estimate():
    b = BoxBudget()
    b.warmup(WARMUP_SEC)
    assert b.sec_per_box is None and b.warmup_sec == WARMUP_SEC
    assert replay(b, START_UP) == [5] * len(START_UP)
    assert 0.09 < b.sec_per_box < 0.13


def test_a_stall_cuts_nobody_and_leaves_the_estimate():
    b = BoxBudget()
    replay(b, START_UP)
    before = b.sec_per_box
    after_stall = replay(b, [STALL_SEC] + START_UP[4:])
    assert after_stall == [5] * len(after_stall)
    assert b.sec_per_box == pytest.approx(before, rel=0.15)


def test_repeated_stalls_are_followed_by_recovery_within_two_frames():
    b = BoxBudget()
    replay(b, START_UP)
    replay(b, [STALL_SEC] * 3)                       # three stalls in a row: still the minority of the window
    assert replay(b, [0.5, 0.5]) == [5, 5]


def test_a_lasting_slowdown_is_followed():
    b = BoxBudget()
    replay(b, START_UP)
    slow = replay(b, [4.0] * 12)                     # 0.8 s per box from now on: only 2 boxes fit in 2 s
    assert slow[0] == 5 and slow[-1] == 2
    assert b.sec_per_box == pytest.approx(0.8, rel=0.05)


def test_too_many_boxes_are_cut_to_what_fits_and_a_frame_keeps_its_best_box():
    b = BoxBudget()
    for _ in range(b.min_frames):
        b.record(10, 1.0)                            # 0.1 s per box
    assert b.allowed(500, 1.0) == 10 and b.allowed(5, 1.0) == 5
    assert b.allowed(500, 0.0) == 500                # no budget
    assert b.allowed(500, 0.001) == 1                # a frame always runs its best box
    assert b.allowed(0, 1.0) == 0


def test_until_enough_frames_are_measured_every_box_runs():
    b = BoxBudget(min_frames=3)
    b.record(1, 10.0)
    b.record(1, 10.0)
    assert b.allowed(100, 1.0) == 100
    b.record(1, 10.0)
    assert b.allowed(100, 1.0) == 1


def test_bad_samples_are_ignored():
    b = BoxBudget()
    for value in (float('nan'), -1.0, float('inf')):
        b.record(5, value)
    b.record(0, 1.0)
    assert b.frames == 0 and b.sec_per_box is None
    with pytest.raises(ValueError):
        BoxBudget(window=0)
