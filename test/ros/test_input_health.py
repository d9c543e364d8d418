"""InputHealth: which side arrives, the stamp difference seen, and silence counted from the last frame."""
from mipnet_ros.ros.input_health import InputHealth


class Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def make():
    clock = Clock()
    return clock, InputHealth('/cam/image', '/cam/detections', clock=clock)


def test_quiet_until_the_stale_age_then_no_input():
    clock, h = make()
    clock.t += 0.9
    assert h.problem(1.0) is None
    clock.t += 0.2
    text = h.problem(1.0)
    assert 'no input arrives' in text and '/cam/image' in text and '/cam/detections' in text


def test_one_side_only_is_named():
    clock, h = make()
    clock.t += 2.0
    h.image(5 * 10**9)
    assert 'images arrive on /cam/image but no detections' in h.problem(1.0)
    _, h = make()
    h._clock.t += 2.0
    h.detections(5 * 10**9)
    assert 'detections arrive on /cam/detections but no images' in h.problem(1.0)


def test_unpaired_stamps_report_the_closest_difference():
    clock, h = make()
    for i in range(10):
        clock.t += 0.2
        h.image(i * 10**8)
        h.detections(i * 10**8 + 40_000_000)     # the detector restamps 40 ms later
    text = h.problem(1.0)
    assert 'none pair' in text and 'closest stamp difference seen 40.0 ms' in text
    assert 'stamp_slop_sec' in text
    assert h.closest_stamp_difference_ms() == 40.0


def test_processed_frames_reset_the_age_and_old_arrivals_do_not_count():
    clock, h = make()
    h.image(1)
    h.detections(1)
    clock.t += 5.0
    h.processed(1)
    assert h.problem(1.0) is None and h.seconds_since_processed() == 0.0
    h.processed(1)                      # same counter: no new frame
    clock.t += 3.0
    assert h.seconds_since_processed() == 3.0
    assert 'no input arrives' in h.problem(1.0)   # the arrivals were 8 s ago


def test_pairs_without_a_finished_frame_point_at_rejections():
    clock, h = make()
    clock.t += 2.0
    h.image(7)
    h.detections(7)
    h.paired(1)
    assert 'pair but no frame completes' in h.problem(1.0)
