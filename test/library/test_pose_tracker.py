"""The keypoint tracker on oracle input (exact keypoints): ids survive a full occlusion and a crossing."""
import numpy as np
import pytest

from mipnet_ros.core.tracking import Observation, PoseTracker, StreamGuard, TrackerConfig
from mipnet_ros.synth.figures import random_pose

FPS = 10.0


def _skeleton(seed, height=150.0):
    joints, _ = random_pose(np.random.default_rng(seed), height)
    return joints - joints.mean(axis=0)


def _obs(skeleton, centre, visible=None):
    kp = skeleton + np.asarray(centre, float)
    vis = np.full(len(kp), 2, np.uint8) if visible is None else np.where(visible, 2, 0).astype(np.uint8)
    kp = np.where(vis[:, None] > 0, kp, 0.0)
    lo, hi = kp[vis == 2].min(0), kp[vis == 2].max(0)
    return Observation(kp, vis, np.concatenate([lo, hi]), 0.9)


def _run(tracker, frames):
    """frames: list of {name: Observation}; returns {name: [track id per frame, '' when absent]}."""
    ids = {}
    for k, frame in enumerate(frames):
        names = list(frame)
        res = tracker.step([frame[n] for n in names], 1.0 / FPS)
        for n, tid in zip(names, res.track_ids):
            ids.setdefault(n, [''] * len(frames))[k] = tid
    return ids


def test_hidden_person_keeps_its_id_through_a_20_frame_full_occlusion():
    """B walks behind A at a different speed, is absent from the input for 20 frames, then reappears."""
    a, b = _skeleton(1), _skeleton(2)
    frames = []
    for k in range(60):
        pa = (300 + 2.0 * k, 200)                   # A slowly right
        pb = (150 + 6.0 * k, 190)                   # B faster right, passing behind A
        frame = {'A': _obs(a, pa)}
        if not 20 <= k < 40:                        # fully hidden for frames 20..39
            frame['B'] = _obs(b, pb)
        frames.append(frame)
    ids = _run(PoseTracker(TrackerConfig()), frames)
    before, after = ids['B'][19], ids['B'][40]
    assert before and after == before, ids['B']
    assert len(set(ids['A'][3:])) == 1 and ids['A'][3] != before
    assert all(tid == before for tid in ids['B'][40:])


def test_ids_survive_a_crossing_with_partial_occlusion():
    """A walks right, B left, behind A; while they overlap B shows only its head and feet."""
    a, b = _skeleton(3), _skeleton(4)
    frames = []
    for k in range(50):
        pa, pb = (100 + 8.0 * k, 200), (500 - 8.0 * k, 205)
        overlap = abs(pa[0] - pb[0]) < 60
        visible = np.zeros(17, bool)
        visible[[0, 1, 2, 3, 4, 15, 16]] = True     # head and ankles
        frames.append({'A': _obs(a, pa), 'B': _obs(b, pb, visible if overlap else None)})
    ids = _run(PoseTracker(TrackerConfig()), frames)
    assert len(set(ids['A'][2:])) == 1 and len(set(ids['B'][2:])) == 1
    assert ids['A'][2] != ids['B'][2] and ids['A'][2] and ids['B'][2]


def test_births_and_deaths_follow_the_hysteresis():
    a = _skeleton(5)
    cfg = TrackerConfig(init_hits=3, max_missed=4)
    tracker = PoseTracker(cfg)
    got = [tracker.step([_obs(a, (100 + 5 * k, 100))], 0.1) for k in range(4)]
    assert [r.track_ids[0] for r in got] == ['', '', '1', '1']      # published from the third hit on
    assert got[2].born == ['1']
    ends = [tracker.step([], 0.1).ended for _ in range(cfg.max_missed + 1)]
    assert ends[:-1] == [[]] * cfg.max_missed and ends[-1] == ['1']   # kept while hidden, then ended
    flash = [tracker.step([_obs(a, (400, 100))] if k == 0 else [], 0.1) for k in range(3)]
    assert all(not r.born and not r.ended for r in flash) and tracker.tracks == []  # one-frame ghost: no track


def test_duplicate_of_a_tracked_person_opens_no_track():
    a = _skeleton(6)
    tracker = PoseTracker(TrackerConfig(init_hits=1))
    for k in range(5):
        res = tracker.step([_obs(a, (100 + 5 * k, 100)), _obs(a + 1.0, (100 + 5 * k, 100))], 0.1)
    assert len(tracker.tracks) == 1 and res.track_ids[0] == '1' and res.track_ids[1] == ''


def test_people_over_the_limit_pass_untracked():
    skel = [_skeleton(10 + i) for i in range(4)]
    tracker = PoseTracker(TrackerConfig(init_hits=1, max_people=2))
    obs = [_obs(s, (100 + 200 * i, 100)) for i, s in enumerate(skel)]
    for o, score in zip(obs, (0.2, 0.9, 0.8, 0.1)):
        o.score = score
    res = tracker.step(obs, 0.1)
    assert res.untracked_over_limit == 2 and [bool(t) for t in res.track_ids] == [False, True, True, False]


@pytest.mark.parametrize('stamps,frames,verdicts', [
    ([0, 100], ['c', 'c'], [('', True, False), ('', True, False)]),
    ([0, 0], ['c', 'c'], [('', True, False), ('duplicate_stamp', False, False)]),
    ([10**9, 10**9 - 10**8], ['c', 'c'], [('', True, False), ('out_of_order', False, False)]),
    ([5 * 10**9, 10**9], ['c', 'c'], [('', True, False), ('stamp_backwards', True, True)]),
    ([0, 10 * 10**9], ['c', 'c'], [('', True, False), ('time_gap', True, True)]),
    ([0, 100], ['c', 'd'], [('', True, False), ('frame_id_change', True, True)]),
])
def test_stream_guard_verdicts(stamps, frames, verdicts):
    guard = StreamGuard(backwards_reset_sec=1.0, max_gap_sec=5.0)
    got = [guard.check(s, f) for s, f in zip(stamps, frames)]
    assert [(v.reason, v.track, v.reset) for v in got] == verdicts


def test_stream_guard_gives_the_time_step():
    guard = StreamGuard()
    assert guard.check(10**9, 'c').dt_sec is None
    assert guard.check(10**9 + 25 * 10**6, 'c').dt_sec == pytest.approx(0.025)


@pytest.mark.parametrize('joints', [(1, 2), (0, 1, 2), (15, 16), (5, 6, 11)])
def test_a_person_with_two_or_three_confident_joints_is_confirmed_after_init_hits(joints):
    """Boxes from person_box.own_box (as the node publishes them), a walking person, 2 px of jitter."""
    from mipnet_ros.core.person_box import own_box
    cfg = TrackerConfig(init_hits=3)
    rng = np.random.default_rng(len(joints) * 100 + joints[0])
    skel = _skeleton(20, height=220.0)
    tracker = PoseTracker(cfg)
    got = []
    for k in range(10):
        centre = np.array([200.0 + 6.0 * k, 240.0])
        kp = skel + centre + rng.normal(0.0, 2.0, skel.shape)
        vis = np.ones(17, np.uint8)
        vis[list(joints)] = 2
        crop = np.concatenate([centre - (60, 130), centre + (60, 130)]) + rng.normal(0.0, 3.0, 4)
        box = own_box(kp, vis, crop, (480, 640))
        got.append(tracker.step([Observation(kp, vis, box, 0.6)], 1.0 / FPS).track_ids[0])
    assert got[:cfg.init_hits - 1] == [''] * (cfg.init_hits - 1)
    assert got[cfg.init_hits - 1] and len(set(got[cfg.init_hits - 1:])) == 1, got
    assert len(tracker.tracks) == 1


def test_track_ids_are_never_reused_in_the_process_and_differ_across_starts():
    from mipnet_ros.core.tracking import TrackIds, start_token
    ids = TrackIds(start_token(1_700_000_000_000) + '_')
    a = _skeleton(30)
    seen = []
    for _ in range(3):                      # a reconfigure builds a new tracker on the same source
        tracker = PoseTracker(TrackerConfig(init_hits=1), ids)
        seen.append(tracker.step([_obs(a, (100, 100))], 0.1).track_ids[0])
        tracker.reset()
        seen.append(tracker.step([_obs(a, (100, 100))], 0.1).track_ids[0])
    assert len(set(seen)) == 6 and all(s.startswith(ids.prefix) for s in seen)
    assert start_token(1_700_000_000_000) != start_token(1_700_000_000_001)
    assert len(start_token()) == 7 and start_token().isalnum()
