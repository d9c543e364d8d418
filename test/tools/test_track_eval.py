"""Tracking sequences (mipnet_ros/synth/sequences.py) and the track-eval bookkeeping, without a network."""
import json

import numpy as np
import pytest

from mipnet_ros.core.tracking import TrackerConfig
from mipnet_ros.synth.sequences import SequenceConfig, box_iou, generate_sequence, hidden_frames
from mipnet_ros.tools import track_eval

pytest.importorskip('motmetrics')
CFG = SequenceConfig(frames=40)


@pytest.fixture(scope='module')
def overtaking():
    return generate_sequence(0, 'overtaking', CFG)


def test_sequences_are_deterministic_and_someone_is_hidden_for_many_frames(overtaking):
    again = generate_sequence(0, 'overtaking', CFG)
    assert all(np.array_equal(a.image, b.image) for a, b in zip(overtaking.frames, again.frames))
    assert hidden_frames(overtaking) >= 10
    ids = {p.identity for f in overtaking.frames for p in f.people}
    assert ids == {0, 1}
    run, longest = 0, 0
    for f in overtaking.frames:                      # the far person (0) is hidden for a stretch
        p = next((p for p in f.people if p.identity == 0), None)
        run = run + 1 if p is not None and p.hidden else 0
        longest = max(longest, run)
    assert longest >= 10


def test_a_mostly_hidden_person_gets_no_box_of_its_own(overtaking):
    for f in overtaking.frames:
        visible = [p for p in f.people if 1 - p.covered >= 0.6]
        hidden = [p for p in f.people if 1 - p.covered < CFG.min_visible_for_box]
        assert len(f.boxes) <= len(f.people) - len(hidden)
        assert len(f.boxes) >= min(1, len(visible))
        assert np.all(np.isfinite(f.boxes)) and np.all((f.scores >= 0) & (f.scores <= 1))


def test_overlapping_boxes_are_merged_as_nms_would():
    seq = generate_sequence(1, 'group', SequenceConfig(frames=30))
    merged = 0
    for f in seq.frames:
        boxes = f.boxes
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                assert box_iou(boxes[i], boxes[j]) <= CFG.merge_iou + 1e-6
        boxed = sum(1 - p.covered >= CFG.min_visible_for_box for p in f.people)
        merged += boxed - len(boxes)
    assert merged > 0, 'no merged box in a 4-person group sequence'


def test_oracle_run_keeps_the_hidden_person(overtaking):
    run = track_eval.evaluate_run([overtaking], track_eval.oracle_observations, TrackerConfig(), CFG.canvas_size)
    o = run['overall']
    assert o['num_switches'] == 0 and o['mota'] > 0.8 and o['idf1'] > 0.9
    assert o['hidden_with_track_before'] > 0 and o['hidden_kept_fraction'] > 0.9


def test_shifted_hypotheses_are_misses_and_false_positives(overtaking):
    """A tracker output 40 px off is no match: the bookkeeping must count it, not hide it."""
    def shifted(frame, shape):
        obs = track_eval.oracle_observations(frame, shape)
        for o in obs:
            o.keypoints = o.keypoints + 40.0
        return obs
    o = track_eval.evaluate_run([overtaking], shifted, TrackerConfig(), CFG.canvas_size)['overall']
    assert o['mota'] < 0 and o['hidden_kept'] == 0


def test_outputs_are_json_markdown_and_png(tmp_path, overtaking):
    run = track_eval.evaluate_run([overtaking], track_eval.oracle_observations, TrackerConfig(), CFG.canvas_size)
    doc = {'command': 'python -m mipnet_ros track-eval', 'runs': {'oracle': run}, 'notes': 'n',
           'benchmark': {'sequences': 1, 'kinds': ['overtaking'], 'seeds': [0], 'frames': 40, 'people_frames': 80,
                         'hidden_person_frames': hidden_frames(overtaking), 'hidden_fraction': 0.5}}
    paths = track_eval.write_outputs(doc, tmp_path)
    assert json.loads(paths['json'].read_text())['runs']['oracle']['overall']['mota'] == run['overall']['mota']
    assert '| oracle |' in paths['md'].read_text() and paths['png'].stat().st_size > 1000
