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


def replay(h, clock, seconds, detector_offset_ns=0, camera_hz=30, detector_every=3):
    """A camera at camera_hz and a detector answering every `detector_every`-th image (its stamp + offset),
    through the node's pairer; the node's warning check after every arrival. Returns the warnings seen."""
    from mipnet_ros.ros.pairing import StampPairer
    pairer = StampPairer(capacity=30, slop_ns=0)
    said = []
    period_ns = 10**9 // camera_hz
    for i in range(int(seconds * camera_hz)):
        clock.t += 1.0 / camera_hz
        stamp = 10**12 + i * period_ns
        h.image(stamp)
        pairer.add_image(stamp, 'img')
        said.append(h.stamp_mismatch(2.0, pairer.stats))
        if i % detector_every == 0:
            h.detections(stamp + detector_offset_ns)
            pairer.add_detections(stamp + detector_offset_ns, 'dets')
            said.append(h.stamp_mismatch(2.0, pairer.stats))
    return [s for s in said if s], pairer.stats


def test_a_detector_at_a_third_of_the_camera_rate_raises_no_stamp_warning():
    clock, h = make()
    warnings, stats = replay(h, clock, 20.0)
    assert stats.unmatched_images > 300 and stats.paired == 200     # most images unmatched, as expected
    assert warnings == []


def test_stamps_that_never_match_are_warned_once_the_window_passed():
    clock, h = make()
    warnings, stats = replay(h, clock, 20.0, detector_offset_ns=7_000_000)
    assert stats.paired == 0
    assert warnings, 'never-matching stamps must be warned about'
    assert 'none paired for' in warnings[0] and 'closest stamp difference seen 7.0 ms' in warnings[0]
    assert 'detection array(s) had no partner' in warnings[-1]
    clock2, h2 = make()
    early, _ = replay(h2, clock2, 1.5, detector_offset_ns=7_000_000)
    assert early == []                                               # within the window: not yet
