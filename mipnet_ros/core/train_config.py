"""Typed training configuration, loaded from YAML (config/*.yaml) with command-line overrides.

The YAML mirrors these dataclasses section by section (model / data / optim / run). Unknown keys
are an error, so a typo cannot silently fall back to a default. Relative paths in a file resolve
against its `root` key, itself relative to the file (the shipped configs say `root: ..`, the
repository), so they work from any directory; `--set` paths are relative to the current directory.
"""
import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import yaml

from mipnet_ros.core.data.augment import AugmentConfig
from mipnet_ros.core.errors import UsageError
from mipnet_ros.core.fileio import resolve_relative

# the keys that name files or folders (val_boxes may also be 'gt')
PATH_KEYS = ('model.init_checkpoint', 'data.train_ann', 'data.train_images', 'data.val_ann', 'data.val_images',
             'data.val_boxes', 'run.out_dir')


@dataclass
class ModelConfig:
    arch: str = 'hrnet_w32'
    instances: int = 2                  # N lambdas (1 = plain HRNet / SimpleBaseline)
    num_joints: int = 17
    input_size: Tuple[int, int] = (256, 192)    # (H, W)
    init_checkpoint: str = ''           # path or zoo name (hrnet_w32_coco); missing gate weights stay random
    init: str = 'official'              # from scratch: official (conv N(0, 0.001), BN 1/0) | default (PyTorch)


@dataclass
class DataConfig:
    dataset: str = 'coco'               # coco | crowdpose | ochuman (selects the skeleton and evaluation)
    train_ann: str = ''
    train_images: str = ''
    val_ann: str = ''
    val_images: str = ''
    val_boxes: str = 'gt'               # gt | detections JSON (COCO results format)
    heatmap_sigma: Optional[float] = None
    max_instances: int = 0              # target slots; 0 -> max(2, model.instances)
    num_workers: int = 4
    augment: AugmentConfig = field(default_factory=AugmentConfig)


@dataclass
class OptimConfig:
    optimizer: str = 'adam'             # adam | sgd
    lr: float = 1e-3
    lr_steps: List[int] = field(default_factory=lambda: [70, 100])   # epochs (MultiStepLR)
    lr_factor: float = 0.1
    weight_decay: float = 0.0           # the official Adam recipe uses none
    momentum: float = 0.9               # sgd only
    epochs: int = 110
    batch_size: int = 32                # per process (per GPU)


@dataclass
class RunConfig:
    name: str = 'run'
    out_dir: str = 'runs'               # checkpoints go to out_dir/name/
    seed: int = 0
    amp: bool = True                    # mixed precision, only used on CUDA
    threads: int = 0                    # torch CPU threads; 0 = automatic: the CPUs other work leaves free
    max_steps: int = 0                  # stop after this many optimiser steps (0 = run all epochs)
    checkpoint_every: int = 200         # steps between mid-epoch checkpoints (0 = end of epoch only)
    snapshot_steps: List[int] = field(default_factory=list)   # also keep weights-only step<N>.pth here
    log_every: int = 20
    device: str = 'auto'                # auto | cpu | cuda


@dataclass
class TrainConfig:
    root: str = '.'                     # relative paths below resolve against this; itself relative to the file
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def to_dict(self) -> Dict[str, Any]:
        d = dataclasses.asdict(self)
        d['model']['input_size'] = list(self.model.input_size)
        return d


def _coerce(default: Any, value: Any, where: str) -> Any:
    """YAML 1.1 reads '5e-4' as a string and '1' as an int: follow the type of the default instead."""
    if value is None or isinstance(default, bool) or default is None:
        return value
    try:
        if isinstance(default, float):
            return float(value)
        if isinstance(default, int) and not isinstance(value, bool):
            return int(value)
        if isinstance(default, tuple):
            return tuple(value)
    except (TypeError, ValueError) as exc:
        raise UsageError(f'{where}: cannot read {value!r} as {type(default).__name__}') from exc
    return value


def _build(cls, data: Dict[str, Any], where: str):
    """Dataclass `cls` from a dict, recursing into dataclass-typed fields; unknown keys are errors."""
    if data is not None and not isinstance(data, dict):
        raise UsageError(f'{where}: expected a mapping of keys, got {data!r}')
    data = dict(data or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(data) - set(fields)
    if unknown:
        raise UsageError(f'{where}: unknown keys {sorted(unknown)}; known: {sorted(fields)}')
    kwargs = {}
    for name, value in data.items():
        default = getattr(cls(), name)
        if dataclasses.is_dataclass(default):
            kwargs[name] = _build(type(default), value, f'{where}.{name}')
        else:
            kwargs[name] = _coerce(default, value, f'{where}.{name}')
    return cls(**kwargs)


def _set_path(cfg: TrainConfig, dotted: str, raw: str) -> None:
    """`--set optim.lr=5e-4`: the value is parsed as YAML (numbers, lists, booleans)."""
    parts = dotted.split('.')
    obj = cfg
    for p in parts[:-1]:
        if not dataclasses.is_dataclass(getattr(obj, p, None)):
            raise UsageError(f'--set {dotted}: no section {p!r}; sections: {_section_names(obj)}')
        obj = getattr(obj, p)
    if not hasattr(obj, parts[-1]) or dataclasses.is_dataclass(getattr(obj, parts[-1])):
        raise UsageError(f'--set {dotted}: unknown key {parts[-1]!r}; known: {_section_names(obj)}')
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise UsageError(f'--set {dotted}: cannot parse {raw!r} as a YAML value') from exc
    setattr(obj, parts[-1], _coerce(getattr(obj, parts[-1]), value, f'--set {dotted}'))


def _section_names(obj) -> str:
    return ', '.join(f.name for f in dataclasses.fields(obj))


def _read_yaml(path: str) -> Dict[str, Any]:
    if not os.path.isfile(path):
        raise FileNotFoundError(f'config file not found: {path}')
    try:
        with open(path) as f:
            data = yaml.safe_load(f) or {}
    except yaml.YAMLError as exc:
        raise UsageError(f'{path}: not valid YAML: {exc}') from exc
    if not isinstance(data, dict):
        raise UsageError(f'{path}: expected sections model/data/optim/run, got a {type(data).__name__}')
    return data


def _resolve_paths(cfg: TrainConfig, base: Path, overridden: Sequence[str]) -> None:
    """Relative paths from the file -> absolute, against root (itself relative to the file's folder)."""
    root = Path(cfg.root) if 'root' in overridden else base / cfg.root
    cfg.root = os.path.abspath(root)
    for dotted in PATH_KEYS:
        section, key = dotted.split('.')
        obj = getattr(cfg, section)
        value = getattr(obj, key)
        if dotted in overridden or not value or (dotted == 'data.val_boxes' and value == 'gt'):
            continue
        setattr(obj, key, resolve_relative(cfg.root, value))


def load_config(path: Optional[str] = None, overrides: Sequence[str] = ()) -> TrainConfig:
    """The recipe of `path` (None: the defaults) with `--set KEY=VALUE` overrides; paths resolved."""
    data = _read_yaml(path) if path else {}
    cfg = _build(TrainConfig, data, path or '<defaults>')
    overridden = []
    for item in overrides:
        if '=' not in item:
            raise UsageError(f'--set expects KEY=VALUE, got {item!r}')
        key, value = item.split('=', 1)
        _set_path(cfg, key.strip(), value)
        overridden.append(key.strip())
    _resolve_paths(cfg, Path(path).resolve().parent if path else Path.cwd(), overridden)
    try:
        cfg.model.input_size = tuple(int(v) for v in cfg.model.input_size)
    except (TypeError, ValueError) as exc:
        raise UsageError(f'model.input_size must be [H, W] integers, got {cfg.model.input_size!r}') from exc
    return cfg
