"""Exact-stamp pairing and the newest-frame mailbox (mipnet_ros/ros/pairing.py), without ROS."""
import random
import threading
import time

import pytest

from mipnet_ros.ros.pairing import LatestSlot, StampPairer


def test_pairs_in_both_arrival_orders():
    p = StampPairer(capacity=5)
    assert p.add_image(10, 'img10') is None
    assert p.add_detections(10, 'det10') == (10, 'img10', 'det10')
    assert p.add_detections(20, 'det20') is None
    assert p.add_image(20, 'img20') == (20, 'img20', 'det20')
    assert p.stats.paired == 2 and p.stats.unmatched == 0 and p.pending() == (0, 0)


@pytest.mark.parametrize('seed', range(5))
def test_shuffled_arrival_pairs_every_frame_with_its_own_stamp(seed):
    rng = random.Random(seed)
    stamps = [1_000_000_000 + 33_333_333 * i for i in range(40)]
    events = [('img', s) for s in stamps] + [('det', s) for s in stamps]
    rng.shuffle(events)
    p = StampPairer(capacity=len(stamps))
    pairs = []
    for kind, s in events:
        r = p.add_image(s, f'img{s}') if kind == 'img' else p.add_detections(s, f'det{s}')
        if r is not None:
            pairs.append(r)
    assert sorted(r[0] for r in pairs) == stamps
    for stamp, img, det in pairs:
        assert img == f'img{stamp}' and det == f'det{stamp}'
    assert p.stats.paired == 40 and p.stats.unmatched == 0


def test_neighbouring_stamps_are_never_paired_without_slop():
    p = StampPairer(capacity=10)
    p.add_image(1000, 'a')
    p.add_image(1002, 'b')
    assert p.add_detections(1001, 'orphan') is None
    assert p.pending() == (2, 1)


def test_slop_takes_the_nearest_partner_and_prefers_exact():
    p = StampPairer(capacity=10, slop_ns=5)
    p.add_image(100, 'i100')
    p.add_image(104, 'i104')
    assert p.add_detections(103, 'd103') == (104, 'i104', 'd103')   # nearest, and the image stamp names the frame
    p.add_image(110, 'i110')
    p.add_image(112, 'i112')
    assert p.add_detections(112, 'd112') == (112, 'i112', 'd112')   # exact beats the nearer-than-slop 110
    assert p.add_detections(200, 'far') is None


def test_bounded_caches_count_what_falls_out_and_never_pair_it_later():
    p = StampPairer(capacity=3)
    for s in range(5):
        p.add_image(s, f'i{s}')
    assert p.pending() == (3, 0) and p.stats.unmatched_images == 2
    assert p.add_detections(0, 'd0') is None             # image 0 was evicted: no pair with anything else
    assert p.add_detections(4, 'd4') == (4, 'i4', 'd4')
    for s in range(10, 14):
        p.add_detections(s, f'd{s}')
    assert p.stats.unmatched_detections == 2             # d0 and d10 evicted
    p.add_detections(12, 'again')                        # same stamp twice: the first is replaced
    assert p.stats.unmatched_detections == 3
    assert p.add_image(12, 'i12') == (12, 'i12', 'again')
    p.clear()
    assert p.pending() == (0, 0)
    assert p.stats.unmatched_images == 2 + 2 and p.stats.unmatched_detections == 3 + 2   # i2, i3; d11, d13


def test_latest_slot_keeps_only_the_newest_and_counts_drops():
    slot = LatestSlot()
    assert slot.put('a', key=1) is False
    assert slot.put('b', key=2) is True
    assert slot.put('old', key=0) is True          # older than the waiting one: the old one is dropped
    assert slot.get(timeout=0) == 'b'
    assert slot.get(timeout=0.01) is None
    assert slot.dropped == 2
    slot.put('c')
    slot.clear()
    assert slot.dropped == 3 and slot.get(timeout=0) is None


def test_latest_slot_close_wakes_a_waiting_worker():
    slot = LatestSlot()
    got = []
    t = threading.Thread(target=lambda: got.append(slot.get(timeout=5)))
    t.start()
    time.sleep(0.05)
    t0 = time.time()
    slot.close()
    t.join(2)
    assert not t.is_alive() and got == [None] and time.time() - t0 < 1


def test_slow_consumer_sees_increasing_frames_and_bounded_backlog():
    slot = LatestSlot()
    seen = []
    done = threading.Event()

    def consume():
        while True:
            item = slot.get(timeout=0.05)
            if item is None:
                if done.is_set():
                    return
                continue
            seen.append(item)
            time.sleep(0.01)             # slower than the producer

    t = threading.Thread(target=consume)
    t.start()
    for i in range(300):
        slot.put(i, key=i)
        time.sleep(0.0005)
    done.set()
    t.join(5)
    assert seen == sorted(seen) and len(set(seen)) == len(seen)
    assert slot.dropped > 0 and len(seen) + slot.dropped == 300   # every frame is either seen or counted
    assert seen[-1] == 299                                         # and the newest one is never lost
