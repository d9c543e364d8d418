"""`python -m mipnet_ros`: user mistakes end as one line `<job>: error: ...` with status 2, never a traceback."""
import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mipnet_ros import cli

REPO = Path(__file__).resolve().parents[2]
BUNDLED = REPO / 'models' / 'mipnet_w16s_n2.pth'
OUTPUTS = {'out', 'json', 'plot', 'results', 'summary_json', 'eval_dir', 'out_dir', 'onnx', 'screenshot', 'node_log'}


def test_export_help_says_the_shared_trunk_is_the_default():
    parser = cli.build_parser(only='export')
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices['export']
    text = ' '.join(sub.format_help().split())
    assert '--shared-trunk (default) the (B,L,K,h,w) graph' in text and '(default: True)' not in text
    assert 'fixed input per row) --opset' in text        # --per-instance claims no default


def _fails(capsys, argv, *words):
    assert cli.main(argv) == 2, argv
    err = capsys.readouterr().err.strip()
    assert err.startswith(f'{argv[0]}: error: ') and '\n' not in err and 'Traceback' not in err, err
    for w in words:
        assert w in err, (w, err)
    return err


def test_unknown_command_says_invalid_choice():
    proc = subprocess.run([sys.executable, '-m', 'mipnet_ros', 'foo'], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "invalid choice: 'foo'" in proc.stderr and 'train' in proc.stderr
    assert cli.main([]) == 0


def _parsers(parser):
    """The parser and those of its sub-commands (e.g. `weights get`), each once."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                yield from _parsers(sub)


@pytest.mark.parametrize('command', sorted(cli.COMMANDS))
def test_every_help_shows_its_true_defaults_and_none_points_into_the_source_tree(command):
    parser = cli.build_parser(only=command)
    top = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[command]
    for sub in _parsers(top):
        _check_help(command, sub)


def _check_help(command, sub):
    text = ' '.join(sub.format_help().split())
    for action in sub._actions:
        default = action.default
        if action.nargs == 0 and action.help != argparse.SUPPRESS:
            # a flag has no default of its own: store_false's True (--per-instance) is the other flag's value
            assert '%(default)' not in (action.help or ''), (command, action.dest)
            continue
        if default is None or default is False or default == argparse.SUPPRESS or default in ('', []):
            continue
        assert action.help and 'default' in action.help.lower(), (command, action.dest)
        if '%(default)' in action.help:
            assert f'default: {default}' in text, (command, action.dest)
        if action.dest in OUTPUTS and isinstance(default, str):
            path = Path(default)
            inside = (path if path.is_absolute() else REPO / path).resolve()
            assert not str(inside).startswith(str(REPO / 'docs')) and not str(inside).startswith(
                str(REPO / 'mipnet_ros')), (command, action.dest, default)
            assert not path.is_absolute() or not str(path).startswith(str(REPO)), (command, action.dest, default)


def test_train_errors(tmp_path, capsys):
    _fails(capsys, ['train', '--config', str(tmp_path / 'missing.yaml')], 'config file not found', 'missing.yaml')
    cfg = tmp_path / 'c.yaml'
    cfg.write_text('optim: {lr: 0.001}\n')
    _fails(capsys, ['train', '--config', str(cfg), '--set', 'optim.lrr=1'], "unknown key 'lrr'")
    _fails(capsys, ['train', '--config', str(cfg), '--set', 'optim.lr'], 'KEY=VALUE')
    _fails(capsys, ['train', '--config', str(cfg), '--resume', '--overwrite'], 'choose one')


def test_eval_errors(tmp_path, capsys):
    import cv2
    images = tmp_path / 'images'
    images.mkdir()
    cv2.imwrite(str(images / 'a.jpg'), np.zeros((64, 48, 3), np.uint8))
    names = [f'k{i}' for i in range(14)]                       # a CrowdPose-like file: 14 keypoints
    ann = tmp_path / 'crowd.json'
    ann.write_text(json.dumps({
        'images': [{'id': 1, 'file_name': 'a.jpg', 'height': 64, 'width': 48}],
        'categories': [{'id': 1, 'name': 'person', 'keypoints': names}],
        'annotations': [{'id': 1, 'image_id': 1, 'category_id': 1, 'bbox': [4, 4, 30, 50], 'iscrowd': 0,
                         'keypoints': [10, 10, 2] * 14, 'num_keypoints': 14, 'area': 1500}]}))
    base = ['eval', '--no-progress', '--ann', str(ann), '--images', str(images)]
    _fails(capsys, base + ['--checkpoint', str(tmp_path / 'none.pth')], 'none.pth')
    _fails(capsys, base + ['--checkpoint', str(BUNDLED), '--dataset', 'crowdpose'],
           '17 keypoints', 'has 14', 'data.dataset: crowdpose')
    _fails(capsys, ['eval', '--checkpoint', str(BUNDLED), '--ann', str(ann), '--images', str(tmp_path / 'nope')],
           'image folder not found')
    _fails(capsys, ['eval', '--checkpoint', str(BUNDLED), '--ann', str(tmp_path / 'no.json'), '--images',
                    str(images)], 'annotation file not found')
    _fails(capsys, base + ['--checkpoint', str(BUNDLED), '--oks-nms', '2'], '--oks-nms')
    _fails(capsys, base + ['--checkpoint', str(BUNDLED), '--instances', '3'], 'N=2')
    _fails(capsys, ['eval', '--checkpoint', str(BUNDLED)], '--ann and --images')


def test_export_errors(tmp_path, capsys):
    _fails(capsys, ['export', '--checkpoint', str(tmp_path / 'x.pth'), '--onnx', str(tmp_path / 'x.onnx')],
           'checkpoint not found', 'x.pth')
    _fails(capsys, ['export', '--checkpoint', str(BUNDLED), '--onnx', str(tmp_path / 'x.onnx'), '--int8'],
           '--calib-ann', '--calib-bag')
    assert not (tmp_path / 'x.onnx').exists()
