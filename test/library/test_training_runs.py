"""Training runs are never lost: last.pth loads everywhere, Ctrl-C saves and resumes, runs are not mixed."""
import json
import os
import signal
from pathlib import Path

import pytest
import torch
import yaml

from mipnet_ros import cli
from mipnet_ros.core import train
from mipnet_ros.core.errors import UsageError
from mipnet_ros.core.train_config import load_config
from mipnet_ros.core.train_pace import auto_threads, pace_note

SHARED = Path(__file__).resolve().parents[2].parent / 'shared' / 'data'
pytestmark = [pytest.mark.skipif(not SHARED.is_dir(), reason=f'real data folder {SHARED} not present'),
              pytest.mark.usefixtures('one_torch_thread')]


def _config(tmp_path: Path, max_steps: int) -> str:
    cfg = {
        'model': {'arch': 'hrnet_w16s', 'instances': 2, 'input_size': [64, 64]},
        'data': {'dataset': 'ochuman', 'train_ann': str(SHARED / 'ochuman' / 'test_ochuman.json'),
                 'train_images': str(SHARED / 'ochuman'), 'num_workers': 0, 'max_instances': 2},
        'optim': {'epochs': 3, 'batch_size': 2, 'lr_steps': [1]},
        'run': {'name': 'run', 'out_dir': str(tmp_path), 'threads': 1, 'max_steps': max_steps,
                'checkpoint_every': 0, 'seed': 1, 'log_every': 1},
    }
    path = tmp_path / f'cfg{max_steps}.yaml'
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def test_last_checkpoint_loads_wherever_a_model_is_accepted(tmp_path, capsys):
    train.train(load_config(_config(tmp_path, 1)), progress=False)
    last = tmp_path / 'run' / train.LAST
    assert set(torch.load(last, weights_only=False)) >= {'optimizer', 'rng', 'state_dict'}   # the full state
    from mipnet_ros.core.estimator import PoseEstimator
    from mipnet_ros.core.model.checkpoint import load_checkpoint
    assert load_checkpoint(last).spec.instances == 2
    est = PoseEstimator(last, instances=1, instance_threshold=0.0)
    assert est.num_instances == 1
    assert cli.main(['export', '--checkpoint', str(last), '--onnx', str(tmp_path / 'last.onnx')]) == 0
    assert (tmp_path / 'last.onnx').is_file()


def test_existing_run_needs_resume_or_overwrite(tmp_path, capsys):
    config = _config(tmp_path, 1)
    train.train(load_config(config), progress=False)
    run = tmp_path / 'run'
    before = {p.name: p.read_bytes() for p in run.iterdir()}
    with pytest.raises(UsageError, match='--resume.*--overwrite'):
        train.train(load_config(config), progress=False)
    assert cli.main(['train', '--config', config, '--no-progress']) == 2
    err = capsys.readouterr().err
    assert err.startswith('train: error: ') and 'already holds a run' in err and 'Traceback' not in err
    assert {p.name: p.read_bytes() for p in run.iterdir()} == before          # nothing touched
    assert cli.main(['train', '--config', config, '--no-progress', '--overwrite']) == 0
    steps = [json.loads(line)['step'] for line in (run / train.LOG).read_text().splitlines()]
    assert steps == [1]                                                        # a fresh log, not appended


def test_ctrl_c_saves_a_resumable_checkpoint_and_says_how(tmp_path, capsys, monkeypatch):
    calls = {'n': 0}
    original = train.MultiInstanceLoss

    class InterruptAtStep2(original):
        def forward(self, *args):
            calls['n'] += 1
            if calls['n'] == 2:
                os.kill(os.getpid(), signal.SIGINT)      # what Ctrl-C sends, in the middle of step 2
            return super().forward(*args)

    monkeypatch.setattr(train, 'MultiInstanceLoss', InterruptAtStep2)
    config = _config(tmp_path, 4)
    assert cli.main(['train', '--config', config, '--no-progress', '--set', 'optim.lr=0.002']) == 130
    err = capsys.readouterr().err
    assert 'saved' in err and f"--config {config} --set optim.lr=0.002 --resume" in err
    last = torch.load(tmp_path / 'run' / train.LAST, weights_only=False)
    assert last['global_step'] == 2 and not (tmp_path / 'run' / train.FINAL).exists()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler       # handler restored
    monkeypatch.setattr(train, 'MultiInstanceLoss', original)
    final = train.train(load_config(config, ['optim.lr=0.002']), resume=True, progress=False)
    assert torch.load(final, weights_only=True)['steps'] == 4


def test_pace_warnings():
    # waiting for data longer than computing: raise the workers
    kind, text = pace_note(20, data_s=30.0, compute_s=10.0, cpu_s=12.0, threads=1, num_workers=0, load=0.5, cpus=4)
    assert kind == 'data' and 'data.num_workers (now 0)' in text
    # two threads on an oversubscribed machine: one thread
    kind, text = pace_note(20, 1.0, 280.0, 300.0, threads=2, num_workers=0, load=3.5, cpus=2)
    assert kind == 'threads' and 'run.threads=1' in text
    # two threads that only got half a CPU between them
    assert pace_note(20, 1.0, 100.0, 40.0, threads=2, num_workers=0, load=1.0, cpus=2)[0] == 'threads'
    assert pace_note(20, 1.0, 100.0, 190.0, threads=2, num_workers=0, load=2.0, cpus=2) is None
    assert pace_note(0, 0, 0, 0, 1, 0, 0, 1) is None


def test_automatic_threads_follow_the_machine():
    assert auto_threads(cpus=2, load=1.6)[0] == 1                  # the busy 2-core machine
    assert auto_threads(cpus=2, load=5.0)[0] == 1
    free = auto_threads(cpus=64, load=0.0)[0]
    assert free == min(64, torch.get_num_threads())
    assert 'load average' in auto_threads(cpus=2, load=0.0)[1]
