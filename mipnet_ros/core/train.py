"""`python -m mipnet_ros train --config config/train/<name>.yaml [--resume]`: resumable MIPNet training.

The same command runs on one CPU, one GPU, or many GPUs under torchrun (WORLD_SIZE>1: DDP, gloo on CPU, nccl
on GPU); Adam and a per-epoch MultiStepLR as in the official recipe, AMP on CUDA.
Resuming is bit-exact: the sample order is a function of (seed, epoch) only and each sample's augmentation of
(seed, epoch, index), so the data pipeline's state is just (epoch, step in epoch); the checkpoint adds the
optimiser, scheduler, AMP scaler and python/numpy/torch RNG states. A run killed at any point restarts to the
same weights as an uninterrupted one (tested on CPU)."""
import argparse
import contextlib
import json
import math
import os
import random
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, Optional

import numpy as np
import torch
from torch import nn

from mipnet_ros.core.data.coco_dataset import CocoPoseDataset, DatasetConfig
from mipnet_ros.core.errors import UsageError
from mipnet_ros.core.loss import MultiInstanceLoss
from mipnet_ros.core.model.checkpoint import CheckpointError, apply_backbone, read_checkpoint, save_checkpoint
from mipnet_ros.core.model.registry import ModelSpec, PoseNet, build_model
from mipnet_ros.core.train_config import TrainConfig, load_config
from mipnet_ros.core.train_pace import Pace, auto_threads

LAST = 'last.pth'       # full training state (resume)
FINAL = 'final.pth'     # weights + spec + recipe summary (what eval/export/the estimator load)
LOG = 'train_log.jsonl'


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during training, after last.pth was written (`checkpoint`, at `step`)."""

    def __init__(self, checkpoint: Path, step: int):
        super().__init__(f'interrupted at step {step}; saved {checkpoint}')
        self.checkpoint, self.step = checkpoint, step


def claim_run_dir(out_dir: Path, resume: bool, overwrite: bool) -> None:
    """Refuse to mix two runs in one directory: an existing run needs --resume or --overwrite."""
    if resume and overwrite:
        raise UsageError('--resume continues the run in the directory, --overwrite deletes it: choose one')
    found = [p for p in (out_dir / LAST, out_dir / FINAL, out_dir / LOG) if p.is_file()]
    found += sorted(out_dir.glob('step*.pth'))
    if not found or resume:
        return
    if not overwrite:
        raise UsageError(f'{out_dir} already holds a run ({", ".join(p.name for p in found)}): add --resume to '
                         'continue it, --overwrite to delete it and start over, or pick another run.name '
                         '(--set run.name=NEW)')
    for p in found:
        p.unlink()


@contextlib.contextmanager
def stop_on_sigint():
    """Yields a flag set by the first Ctrl-C (the loop stops at the end of the step); a second one
    interrupts at once. Only the main thread can own signals: elsewhere the flag is never set."""
    flag = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum, frame):
        if flag.is_set():
            raise KeyboardInterrupt
        flag.set()
        print('\nCtrl-C: stopping after this step and saving a checkpoint (Ctrl-C again to quit now)',
              file=sys.stderr, flush=True)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


def _worker_ignores_sigint(_worker_id: int) -> None:
    """Data loader workers leave Ctrl-C to the main process, which stops at a step boundary."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


# ---------------------------------------------------------------------------- distributed
@dataclass
class DistInfo:
    world_size: int = 1
    rank: int = 0
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup_distributed(device: torch.device) -> DistInfo:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1)."""
    world = int(os.environ.get('WORLD_SIZE', '1'))
    if world <= 1:
        return DistInfo()
    import torch.distributed as dist
    backend = 'nccl' if device.type == 'cuda' else 'gloo'
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return DistInfo(world, dist.get_rank(), int(os.environ.get('LOCAL_RANK', '0')))


def pick_device(name: str, dist_info: Optional[DistInfo] = None) -> torch.device:
    if name == 'auto':
        name = 'cuda' if torch.cuda.is_available() else 'cpu'
    if name == 'cuda':
        local = int(os.environ.get('LOCAL_RANK', '0'))
        torch.cuda.set_device(local)
        return torch.device('cuda', local)
    return torch.device(name)


# ---------------------------------------------------------------------------- sampling
class EpochSampler(torch.utils.data.Sampler):
    """Shuffled indices of one epoch for one rank, starting `start` samples in.

    The permutation depends only on (seed, epoch); each rank takes every world_size-th index of
    the (padded) permutation, like DistributedSampler, so resuming needs only the position.
    """

    def __init__(self, size: int, seed: int, epoch: int, rank: int = 0, world_size: int = 1,
                 start: int = 0, shuffle: bool = True):
        g = torch.Generator().manual_seed(int(seed) * 100003 + int(epoch))
        order = torch.randperm(size, generator=g) if shuffle else torch.arange(size)
        per_rank = math.ceil(size / world_size)
        order = torch.cat([order, order[:per_rank * world_size - size]])
        self.indices = order[rank::world_size].tolist()[start:]

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


def steps_per_epoch(size: int, batch_size: int, world_size: int) -> int:
    return math.ceil(size / world_size) // batch_size


# ---------------------------------------------------------------------------- model helpers
class AllInstances(nn.Module):
    """forward(images) -> (B, N, K, h, w): every lambda of every box, trunk computed once.

    A module (not a method call) so that DistributedDataParallel sees the real forward.
    """

    def __init__(self, net: PoseNet):
        super().__init__()
        self.net = net

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        n = self.net.spec.instances
        if n == 1:
            return self.net(images).unsqueeze(1)
        return self.net.forward_shared(images, n)


def official_init(model: nn.Module) -> None:
    """HRNet/SimpleBaseline initialisation: conv and deconv weights N(0, 0.001), zero bias, BN 1/0.

    With PyTorch's default init the untrained network outputs heatmaps of magnitude ~1 while the
    targets are ~0 almost everywhere: the first hundreds of steps are then spent only on shrinking the
    output. Near-zero initial heatmaps start training where it matters (the gates' Linear layers keep
    their default init, as in the official code).
    """
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, std=0.001)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def load_init_weights(model: PoseNet, path: str) -> Dict[str, int]:
    """Initialise from a (usually N=1) checkpoint: everything but the lambda gates must match.

    MIPNet's recipe starts from the COCO HRNet weights with the gates random; anything else
    missing or mis-shaped means the wrong file, which is an error rather than a silent partial load.
    `path` may also be a model zoo name (e.g. hrnet_w32_coco), fetched into the user cache.
    """
    from mipnet_ros.core.weights.resolve import resolve_model
    path = str(resolve_model(path, download=True))
    obj = read_checkpoint(path)
    try:
        kept = apply_backbone(model, obj, path)
    except CheckpointError as exc:
        raise ValueError(f'{path}: cannot initialise {model.spec.arch}: {exc}') from exc
    info = {'loaded': len(model.state_dict()) - len(kept), 'random': len(kept)}
    if isinstance(obj, dict):      # our snapshots say how much training the init already had
        info.update({k: obj[k] for k in ('steps', 'epochs') if isinstance(obj.get(k), (int, float))})
    return info


def build_optimizer(cfg: TrainConfig, params) -> torch.optim.Optimizer:
    o = cfg.optim
    if o.optimizer == 'adam':
        return torch.optim.Adam(params, lr=o.lr, weight_decay=o.weight_decay)
    if o.optimizer == 'sgd':
        return torch.optim.SGD(params, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay)
    raise ValueError(f'optimizer must be adam or sgd, got {o.optimizer!r}')


def rng_state() -> dict:
    state = {'python': random.getstate(), 'numpy': np.random.get_state(), 'torch': torch.get_rng_state()}
    if torch.cuda.is_available():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state['python'])
    np.random.set_state(state['numpy'])
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])


def make_dataset(cfg: TrainConfig) -> CocoPoseDataset:
    d = cfg.data
    slots = d.max_instances or max(2, cfg.model.instances)
    return CocoPoseDataset(DatasetConfig(ann_file=d.train_ann, image_dir=d.train_images, skeleton=d.dataset,
                                         input_size=cfg.model.input_size, heatmap_sigma=d.heatmap_sigma,
                                         max_instances=slots, train=True, augment=d.augment), seed=cfg.run.seed)


# ---------------------------------------------------------------------------- the loop
def train(cfg: TrainConfig, resume: bool = False, progress: bool = True, overwrite: bool = False) -> Path:
    """Runs (or continues) training; returns the path of the final weights.

    Raises UsageError when the run directory already holds a run and neither `resume` nor
    `overwrite` is set, and TrainingInterrupted (after saving last.pth) on Ctrl-C.
    """
    device = pick_device(cfg.run.device)
    dist_info = setup_distributed(device)
    out_dir = Path(cfg.run.out_dir) / cfg.run.name
    if dist_info.main:
        claim_run_dir(out_dir, resume, overwrite)
    threads, why = (int(cfg.run.threads), 'run.threads') if cfg.run.threads else auto_threads(cfg.data.num_workers)
    torch.set_num_threads(threads)
    if dist_info.main:
        print(f'{threads} torch thread(s) ({why})')
    seed = int(cfg.run.seed)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)

    dataset = make_dataset(cfg)
    spec = ModelSpec(cfg.model.arch, cfg.model.instances, cfg.model.num_joints, cfg.model.input_size)
    if dataset.skeleton.num_joints != spec.num_joints:
        raise ValueError(f'dataset {cfg.data.dataset} has {dataset.skeleton.num_joints} joints, '
                         f'model.num_joints is {spec.num_joints}')
    model = build_model(spec)
    init_info: Dict[str, float] = {}
    if cfg.model.init == 'official':
        official_init(model)
    elif cfg.model.init != 'default':
        raise ValueError(f"model.init must be 'official' or 'default', got {cfg.model.init!r}")
    if cfg.model.init_checkpoint:
        init_info = load_init_weights(model, cfg.model.init_checkpoint)
        if dist_info.main:
            print(f'initialised from {cfg.model.init_checkpoint}: {init_info}')
    model.to(device)
    runner: nn.Module = AllInstances(model)
    if dist_info.enabled:
        runner = nn.parallel.DistributedDataParallel(
            runner, device_ids=[device.index] if device.type == 'cuda' else None)
    optimizer = build_optimizer(cfg, model.parameters())
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(cfg.optim.lr_steps),
                                                     gamma=cfg.optim.lr_factor)
    use_amp = bool(cfg.run.amp and device.type == 'cuda')
    scaler = torch.amp.GradScaler('cuda', enabled=use_amp)
    loss_fn = MultiInstanceLoss(use_target_weight=True)

    epoch, epoch_step, global_step, wall = 0, 0, 0, 0.0
    out_dir.mkdir(parents=True, exist_ok=True)     # only once the data and model are known to be fine
    last_path = out_dir / LAST
    if resume and last_path.is_file():
        try:
            ckpt = read_checkpoint(last_path)
        except CheckpointError as exc:
            raise CheckpointError(f'{exc}; cannot resume: use --overwrite instead of --resume to start over') from None
        model.load_state_dict(ckpt['state_dict'])
        optimizer.load_state_dict(ckpt['optimizer'])
        scheduler.load_state_dict(ckpt['scheduler'])
        scaler.load_state_dict(ckpt['scaler'])
        epoch, epoch_step, global_step = ckpt['epoch'], ckpt['epoch_step'], ckpt['global_step']
        wall = float(ckpt.get('wall_s', 0.0))
        set_rng_state(ckpt['rng'][min(dist_info.rank, len(ckpt['rng']) - 1)])
        if dist_info.main:
            print(f'resumed from {last_path}: epoch {epoch}, step {epoch_step} of the epoch, {global_step} total')
    elif resume and dist_info.main:
        print(f'--resume: no {last_path} yet, starting from scratch')

    bs = int(cfg.optim.batch_size)
    per_epoch = steps_per_epoch(len(dataset), bs, dist_info.world_size)
    if per_epoch == 0:
        raise ValueError(f'{len(dataset)} samples cannot fill one batch of {bs} per process')
    max_steps = int(cfg.run.max_steps) or per_epoch * cfg.optim.epochs
    # training the init already had (our snapshots of the same data), so that `epochs` in the final
    # file counts the whole budget of an N>1 run started from an N=1 net
    init_epochs = float(init_info.get('epochs', init_info.get('steps', 0) / per_epoch))
    log_path = out_dir / LOG

    def checkpoint(gather: bool = True) -> None:
        states = [rng_state()]
        if dist_info.enabled and gather:
            import torch.distributed as dist
            gathered = [None] * dist_info.world_size
            dist.all_gather_object(gathered, states[0])
            states = gathered
        if dist_info.main:
            save_checkpoint(last_path, model, optimizer=optimizer.state_dict(), scheduler=scheduler.state_dict(),
                            scaler=scaler.state_dict(), epoch=epoch, epoch_step=epoch_step,
                            global_step=global_step, rng=states, config=cfg.to_dict(), wall_s=wall)

    t_start = time.time() - wall
    done = global_step >= max_steps
    pace = Pace(threads, cfg.data.num_workers)
    with stop_on_sigint() as stop:
        while epoch < cfg.optim.epochs and not done:
            dataset.set_epoch(epoch)
            sampler = EpochSampler(len(dataset), seed, epoch, dist_info.rank, dist_info.world_size,
                                   start=epoch_step * bs)
            loader = torch.utils.data.DataLoader(dataset, batch_size=bs, sampler=sampler, drop_last=True,
                                                 num_workers=cfg.data.num_workers, pin_memory=device.type == 'cuda',
                                                 worker_init_fn=_worker_ignores_sigint)
            model.train()
            bar = None
            if progress and dist_info.main:
                from tqdm import tqdm
                bar = tqdm(total=per_epoch, initial=epoch_step, desc=f'epoch {epoch}', dynamic_ncols=True)
            pace.start()
            for batch in loader:
                pace.data_ready()
                images = batch['image'].to(device, non_blocking=True)
                with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=use_amp):
                    preds = runner(images)
                loss = loss_fn(preds.float(), batch['target'].to(device), batch['weight'].to(device),
                               batch['n'].to(device))
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                epoch_step += 1
                global_step += 1
                wall = time.time() - t_start
                value = float(loss.detach())
                note = pace.step_done()
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f'{value:.2e}', lr=f'{optimizer.param_groups[0]["lr"]:.1e}')
                if note and dist_info.main:
                    print(f'warning: {note}', file=sys.stderr, flush=True)
                if dist_info.main and (global_step % max(1, cfg.run.log_every) == 0 or global_step == 1):
                    with open(log_path, 'a') as f:
                        f.write(json.dumps({'step': global_step, 'epoch': epoch, 'loss': value,
                                            'lr': optimizer.param_groups[0]['lr'], 'wall_s': round(wall, 1),
                                            **pace.summary()}) + '\n')
                if dist_info.main and global_step in cfg.run.snapshot_steps:
                    save_checkpoint(out_dir / f'step{global_step}.pth', model, steps=global_step,
                                    epochs=init_epochs + epoch + epoch_step / per_epoch,
                                    trained_on=cfg.data.train_ann, device=str(device), config=cfg.to_dict())
                if global_step >= max_steps:
                    done = True
                    break
                if stop.is_set():
                    break
                if cfg.run.checkpoint_every and global_step % cfg.run.checkpoint_every == 0:
                    checkpoint()
                pace.start()
            if bar is not None:
                bar.close()
            if epoch_step >= per_epoch:
                epoch, epoch_step = epoch + 1, 0
                scheduler.step()
            if stop.is_set() and not done:
                checkpoint(gather=False)      # other ranks may be stopping too: no collective here
                raise TrainingInterrupted(last_path, global_step)
            checkpoint()

    final = out_dir / FINAL
    if dist_info.main:
        own = epoch + epoch_step / per_epoch
        save_checkpoint(final, model, epochs=init_epochs + own, own_epochs=own, steps=global_step,
                        init_checkpoint=cfg.model.init_checkpoint, init_steps=int(init_info.get('steps', 0)),
                        trained_on=cfg.data.train_ann, device=str(device), wall_s=round(wall, 1),
                        config=cfg.to_dict())
        print(f'wrote {final} after {global_step} steps ({wall / 60:.1f} min)')
    if dist_info.enabled:
        import torch.distributed as dist
        dist.barrier()
    return final


# ---------------------------------------------------------------------------- CLI
def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--config', required=True,
                        help='YAML recipe, e.g. config/train/coco_w32_256x192.yaml (its relative paths are read '
                             'from the directory in its `root` key, itself relative to the file)')
    parser.add_argument('--resume', action='store_true', help='continue from <out_dir>/<name>/last.pth if present')
    parser.add_argument('--overwrite', action='store_true',
                        help='delete the run already in <out_dir>/<name> (checkpoints and log) and start over')
    parser.add_argument('--set', action='append', default=[], metavar='KEY=VALUE',
                        help='override a config value, e.g. --set data.train_images=/data/coco/train2017 '
                             '(repeatable; relative paths are relative to the current directory)')
    parser.add_argument('--no-progress', action='store_true', help='no tqdm bar (logs still go to train_log.jsonl)')
    parser.add_argument('--init', metavar='NAME_OR_PATH',
                        help='start from these weights (model.init_checkpoint), e.g. hrnet_w32_coco: the lambda '
                             'gates stay random, as in the MIPNet recipe')


def main(args: argparse.Namespace) -> int:
    cfg = load_config(args.config, args.set)
    if getattr(args, 'init', None):
        cfg.model.init_checkpoint = args.init
    try:
        train(cfg, resume=args.resume, progress=not args.no_progress, overwrite=args.overwrite)
    except TrainingInterrupted as exc:
        import shlex
        again = shlex.join(['python', '-m', 'mipnet_ros', 'train', '--config', args.config]
                           + [a for item in args.set for a in ('--set', item)] + ['--resume'])
        print(f'train: interrupted at step {exc.step}; saved {exc.checkpoint}\nresume with: {again}', file=sys.stderr)
        return 130
    return 0
