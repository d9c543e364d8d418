"""Training robustness: a run killed mid-epoch and resumed ends with exactly the weights of an
uninterrupted run; checkpoint writes are atomic (a writer killed at any moment leaves a file that
loads); a corrupt checkpoint is refused with a clear error, never a bare traceback.

Real data: the 17 annotated people of ../shared/data/coco17_merged.json (skipped without it), a
tiny hrnet_w16s (N=2, 64x32 input) on one CPU thread so that every step is deterministic.
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

torch = pytest.importorskip('torch')

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO.parent / 'shared' / 'data'
MERGED = SHARED_DATA / 'coco17_merged.json'
EPOCHS = 2
BATCH = 2


def _config(tmp: Path, name: str) -> Path:
    cfg = {
        'model': {'arch': 'hrnet_w16s', 'instances': 2, 'num_joints': 17, 'input_size': [64, 32]},
        'data': {'dataset': 'coco', 'train_ann': str(MERGED), 'train_images': str(SHARED_DATA), 'num_workers': 0},
        'optim': {'optimizer': 'adam', 'lr': 1e-3, 'lr_steps': [1], 'epochs': EPOCHS, 'batch_size': BATCH},
        'run': {'name': name, 'out_dir': str(tmp / 'runs'), 'seed': 3, 'threads': 1, 'checkpoint_every': 1,
                'log_every': 1, 'device': 'cpu', 'amp': False},
    }
    path = tmp / f'{name}.yaml'
    path.write_text(yaml.safe_dump(cfg))
    return path


def _train_cmd(config: Path, resume: bool = False):
    return [sys.executable, '-m', 'mipnet_ros', 'train', '--config', str(config), '--no-progress'] + (
        ['--resume'] if resume else [])


def _env():
    return dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1', PYTHONUNBUFFERED='1')


def _steps_per_epoch() -> int:
    from mipnet_ros.core.train import make_dataset, steps_per_epoch
    from mipnet_ros.core.train_config import load_config
    cfg = load_config(None, [f'data.train_ann={MERGED}', f'data.train_images={SHARED_DATA}',
                             'model.input_size=[64, 32]'])
    return steps_per_epoch(len(make_dataset(cfg)), BATCH, 1)


def _weights(path: Path):
    obj = torch.load(str(path), map_location='cpu', weights_only=False)
    return obj['state_dict']


needs_data = pytest.mark.skipif(not MERGED.is_file(), reason=f'{MERGED} not found (../shared/data is absent)')


@needs_data
def test_killed_mid_epoch_then_resumed_gives_identical_weights(tmp_path):
    per_epoch = _steps_per_epoch()
    assert per_epoch >= 4, 'the dataset is too small to kill a run in the middle of an epoch'
    kill_at = per_epoch + per_epoch // 2            # the middle of the second epoch

    # The reference run and the run to be killed go side by side (one thread each).
    ref_cfg = _config(tmp_path, 'uninterrupted')
    ref = subprocess.Popen(_train_cmd(ref_cfg), env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           cwd=REPO)
    cfg = _config(tmp_path, 'killed')
    run_dir = tmp_path / 'runs' / 'killed'
    log = run_dir / 'train_log.jsonl'
    proc = subprocess.Popen(_train_cmd(cfg), env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True, cwd=REPO)
    try:
        deadline = time.time() + 240
        step = 0
        while time.time() < deadline and proc.poll() is None:
            if log.is_file():
                lines = log.read_text().splitlines()
                if lines:
                    step = json.loads(lines[-1])['step']
                    if step >= kill_at:
                        break
            time.sleep(0.02)
        assert proc.poll() is None, 'the run finished before it could be killed:\n' + proc.stdout.read().decode()
        os.killpg(proc.pid, signal.SIGKILL)            # no clean-up, no final checkpoint: a power cut
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert not (run_dir / 'final.pth').exists()
    state = torch.load(str(run_dir / 'last.pth'), map_location='cpu', weights_only=False)
    assert state['epoch'] == 1 and 0 < state['epoch_step'] < per_epoch, \
        f'killed at step {step}, but last.pth is at epoch {state["epoch"]} step {state["epoch_step"]}: not mid-epoch'

    try:
        resumed = subprocess.run(_train_cmd(cfg, resume=True), env=_env(), capture_output=True, text=True,
                                 timeout=300, cwd=REPO)
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        assert 'resumed from' in resumed.stdout
        ref_out = ref.communicate(timeout=300)[0].decode()
        assert ref.returncode == 0, ref_out
    finally:
        if ref.poll() is None:
            ref.kill()

    a, b = _weights(tmp_path / 'runs' / 'uninterrupted' / 'final.pth'), _weights(run_dir / 'final.pth')
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f'{len(different)} tensors differ after resume, e.g. {different[:3]}'
    # and the resumed run really trained on after the kill: its weights moved past the checkpoint
    mid = state['state_dict']
    assert any(not torch.equal(mid[k], b[k]) for k in b if k.endswith('weight'))


_WRITER = r'''
import sys, torch
from mipnet_ros.core.model.checkpoint import save_checkpoint
from mipnet_ros.core.model.registry import ModelSpec, build_model
model = build_model(ModelSpec('hrnet_w16s', 2, 17, (64, 32)))
i = 0
while True:
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(float(i))
    save_checkpoint(sys.argv[1], model, step=i, padding=torch.zeros(2_000_000))
    print(i, flush=True)
    i += 1
'''


def test_checkpoint_write_is_atomic_under_sigkill(tmp_path):
    """A writer killed at random moments (mostly inside torch.save: the file is ~12 MB) never
    leaves a half-written checkpoint at the target path."""
    from mipnet_ros.core.model.checkpoint import load_checkpoint
    target = tmp_path / 'ckpt.pth'
    script = tmp_path / 'writer.py'
    script.write_text(_WRITER)
    for delay in (0.017, 0.061):
        proc = subprocess.Popen([sys.executable, str(script), str(target)], env=_env(), stdout=subprocess.PIPE,
                                cwd=REPO)
        try:
            first = proc.stdout.readline()                 # one complete save exists
            assert first.strip(), 'the writer did not save anything'
            time.sleep(delay)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
        model = load_checkpoint(target)                   # must load: old or new, never half
        obj = torch.load(str(target), map_location='cpu', weights_only=True)
        value = float(next(iter(model.parameters())).detach().flatten()[0])
        assert value == float(obj['step']), 'weights and metadata come from different saves'
    leftovers = [p.name for p in tmp_path.iterdir() if p.name not in ('ckpt.pth', 'writer.py')]
    # a killed writer may leave its temp file, but never under the target's name
    assert all(p.startswith('.ckpt.pth.') and p.endswith('.tmp') for p in leftovers), leftovers


def test_corrupt_checkpoint_is_refused_clearly(tmp_path):
    from mipnet_ros.core.model.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
    from mipnet_ros.core.model.registry import ModelSpec, build_model
    good = save_checkpoint(tmp_path / 'good.pth', build_model(ModelSpec('hrnet_w16s', 2, 17, (64, 32))))
    data = good.read_bytes()
    cases = {
        'truncated': data[:len(data) // 3],
        'zeroed_middle': data[:len(data) // 2] + bytes(4096) + data[len(data) // 2 + 4096:],
        'empty': b'',
        'text': b'this is not a checkpoint\n' * 10,
    }
    for name, blob in cases.items():
        path = tmp_path / f'{name}.pth'
        path.write_bytes(blob)
        with pytest.raises(CheckpointError) as err:
            load_checkpoint(path)
        text = str(err.value)
        assert str(path) in text, f'{name}: the error does not name the file: {text}'
        assert len(text.splitlines()) <= 3, f'{name}: not a short message: {text}'


@needs_data
def test_resume_from_corrupt_checkpoint_fails_clearly(tmp_path):
    cfg = _config(tmp_path, 'corrupt')
    run_dir = tmp_path / 'runs' / 'corrupt'
    run_dir.mkdir(parents=True)
    (run_dir / 'last.pth').write_bytes(b'PK\x03\x04' + os.urandom(5000))    # a zip header, then garbage
    proc = subprocess.run(_train_cmd(cfg, resume=True), env=_env(), capture_output=True, text=True, timeout=120,
                          cwd=REPO)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, 'training resumed from a corrupt checkpoint:\n' + out
    assert 'Traceback' not in out, 'a corrupt checkpoint must be refused with a message, not a traceback:\n' + out
    assert str(run_dir / 'last.pth') in out and ('corrupt' in out.lower() or 'truncated' in out.lower()), out
    assert not (run_dir / 'final.pth').exists()
