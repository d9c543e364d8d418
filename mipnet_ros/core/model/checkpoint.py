"""Loading and saving model weights, ours and the official HRNet/MIPNet files alike.

Our files are {'format', 'spec', 'state_dict', ...extra}: the spec makes them self-describing. Official files
hold only weights, in one of several wrappers (a raw state_dict, STATE_DICT_KEYS, 'module.' prefixes from
DataParallel), so the caller names the architecture (or asks for AUTO_ARCH). Every failure names the file and
what is wrong (which keys, which shapes): "Error(s) in loading state_dict" or a pickle traceback is nothing a
user can act on."""
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import nn

from mipnet_ros.core.errors import UsageError
from mipnet_ros.core.fileio import atomic_path
from mipnet_ros.core.model.registry import ARCHS, ModelSpec, PoseNet, build_model, parse_input_size

FORMAT = 'mipnet_ros'
FORMAT_VERSION = 1
# wrappers the official training code (and HRNet's) writes, in the order we look for them
STATE_DICT_KEYS = ('state_dict', 'latest_state_dict', 'best_state_dict', 'model_state_dict', 'model')
GATE_PREFIXES = ('stage3_se.', 'stage4_se.', 'layer3_se.', 'layer4_se.')
_SHOW = 5   # keys listed in an error message before "... and N more"

PathLike = Union[str, os.PathLike]
# arch= value meaning "from the file": our stored spec, else the one architecture the weight shapes fit
AUTO_ARCH = 'auto'


class CheckpointError(UsageError):
    """The file cannot be turned into a model; the message names the file and the reason."""


def _unpickler_reason(message: str) -> str:
    """The one informative line of torch's long weights_only error."""
    text = message.split('WeightsUnpickler error:', 1)[-1].strip()
    return text.split('\n')[0].strip() or message.strip().split('\n')[0]


def _verify_zip(path: Path) -> None:
    """Checks the CRC32 of every member of a zip-format (torch >= 1.6) file.

    torch.load does not: a file damaged inside a tensor's bytes loads "fine" with wrong weights.
    torch.save records CRCs unless told not to (then all are 0 and there is nothing to check).
    """
    if not zipfile.is_zipfile(str(path)):
        return                       # legacy pickle format, or damaged beyond the zip directory
    try:
        with zipfile.ZipFile(str(path)) as archive:
            if not any(info.CRC for info in archive.infolist()):
                return
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, ValueError, NotImplementedError) as exc:
        raise CheckpointError(f'{path}: cannot read checkpoint (truncated or corrupt file?): '
                              f'{type(exc).__name__}: {exc}') from exc
    if bad is not None:
        raise CheckpointError(f'{path}: corrupt file: checksum mismatch in {bad!r}')


def numpy_array_globals() -> list:
    """What torch.load(weights_only=True) needs for plain numpy arrays: the numpy RNG state that
    training checkpoints (last.pth) hold. Arrays of Python objects still need other globals and stay refused."""
    core = getattr(np, '_core', None) or np.core
    return [core.multiarray._reconstruct, np.ndarray, np.dtype, type(np.dtype(np.uint32))]


def safe_load(path: PathLike, map_location='cpu', **kwargs) -> Any:
    """torch.load(weights_only=True) that also accepts plain numpy arrays (see numpy_array_globals)."""
    with torch.serialization.safe_globals(numpy_array_globals()):
        return torch.load(str(path), map_location=map_location, weights_only=True, **kwargs)


def _read(path: Path, map_location, allow_pickle: bool) -> Any:
    if not path.is_file():
        raise FileNotFoundError(f'checkpoint not found: {path}')
    _verify_zip(path)
    try:
        if not allow_pickle:
            return safe_load(path, map_location)
        return torch.load(str(path), map_location=map_location, weights_only=False)
    except pickle.UnpicklingError as exc:
        reason = _unpickler_reason(str(exc))
        if 'Unsupported global' in reason:
            # a real checkpoint that also stores Python objects (e.g. a config class)
            raise CheckpointError(
                f'{path}: the file holds Python objects other than tensors and plain containers '
                f'({reason.split(" was not")[0]}); if you trust it, re-save its weights once in Python: '
                f'save_checkpoint(new_path, load_checkpoint(path, arch=..., allow_pickle=True)) '
                f'(mipnet_ros.core.model.checkpoint), then use new_path') from exc
        raise CheckpointError(f'{path}: cannot read checkpoint (truncated or corrupt file, or not '
                              f'written by torch.save?): {reason}') from exc
    except (RuntimeError, EOFError, OSError, zipfile.BadZipFile, ValueError, KeyError, AttributeError,
            UnicodeDecodeError, ImportError, IndexError, TypeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ''
        raise CheckpointError(
            f'{path}: cannot read checkpoint (truncated or corrupt file?): {type(exc).__name__}: {first}') from exc


def _is_state_dict(obj: Any) -> bool:
    return isinstance(obj, Mapping) and len(obj) > 0 and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())


def _strip_prefix(state: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
    """Removes DataParallel/DDP 'module.' prefixes (also repeated ones)."""
    out = dict(state)
    while out and all(k.startswith('module.') for k in out):
        out = {k[len('module.'):]: v for k, v in out.items()}
    return out


def extract_state_dict(obj: Any, path: PathLike = '<memory>') -> Tuple[Dict[str, torch.Tensor], str]:
    """The weights inside any accepted wrapper, plus a word for the wrapper found (for messages)."""
    if _is_state_dict(obj):
        return _strip_prefix(obj), 'raw state_dict'
    if isinstance(obj, Mapping):
        for key in STATE_DICT_KEYS:
            if key in obj and _is_state_dict(obj[key]):
                return _strip_prefix(obj[key]), f"{{'{key}': ...}}"
        keys = ', '.join(repr(k) for k in list(obj)[:10])
        raise CheckpointError(f'{path}: no weights found; expected a state_dict or one of the keys '
                              f'{", ".join(STATE_DICT_KEYS)}; the file has keys {keys}')
    raise CheckpointError(f'{path}: no weights found; the file holds a {type(obj).__name__}, '
                          'not a dict of tensors')


def has_gates(state: Mapping[str, torch.Tensor]) -> bool:
    return any(k.startswith(GATE_PREFIXES) for k in state)


def guess_arch(state: Mapping[str, torch.Tensor]) -> Optional[str]:
    """The one architecture whose key names and widths the weights have, else None (a strict load checks the rest)."""
    final = state.get('final_layer.weight')
    if 'stage4.0.branches.0.0.conv1.weight' in state and final is not None:
        width = int(final.shape[1])
        modules = {int(k.split('.')[1]) for k in state if k.startswith('stage3.')}
        from mipnet_ros.core.model.hrnet import HRNET_CONFIGS
        for name, cfg in HRNET_CONFIGS.items():
            if cfg.width == width and cfg.modules[1] == len(modules):
                return name
        return None
    if 'layer4.0.conv1.weight' in state:
        from mipnet_ros.core.model.resnet import RESNET_DEPTHS
        counts = tuple(len({int(k.split('.')[1]) for k in state if k.startswith(f'layer{i}.')})
                       for i in range(1, 5))
        bottleneck = 'layer1.0.conv3.weight' in state
        for name, (block, depth) in RESNET_DEPTHS.items():
            if tuple(depth) == counts and (block.expansion == 4) == bottleneck:
                return name
    return None


def _listing(keys: Sequence[str]) -> str:
    shown = ', '.join(keys[:_SHOW])
    return shown + (f' ... and {len(keys) - _SHOW} more' if len(keys) > _SHOW else '')


def check_state_dict(model: nn.Module, state: Mapping[str, torch.Tensor]) -> List[str]:
    """Problems that would make a strict load fail, as human-readable lines (empty list = fine).

    Missing BN `num_batches_tracked` counters are not a problem: they do not affect inference and
    some older files lack them.
    """
    expected = model.state_dict()
    missing = [k for k in expected if k not in state and not k.endswith('num_batches_tracked')]
    unexpected = [k for k in state if k not in expected]
    shapes = [f'{k}: file {tuple(state[k].shape)} vs model {tuple(v.shape)}'
              for k, v in expected.items() if k in state and tuple(state[k].shape) != tuple(v.shape)]
    problems = []
    if missing:
        problems.append(f'{len(missing)} missing keys: {_listing(missing)}')
    if unexpected:
        problems.append(f'{len(unexpected)} unexpected keys: {_listing(unexpected)}')
    if shapes:
        problems.append(f'{len(shapes)} shape mismatches: {_listing(shapes)}')
    return problems


def load_state_dict_checked(model: nn.Module, state: Mapping[str, torch.Tensor], source: str = '<memory>'):
    problems = check_state_dict(model, state)
    if problems:
        spec = getattr(model, 'spec', None)
        what = f'{spec.arch} with instances={spec.instances}' if spec is not None else type(model).__name__
        hint = ''
        guess = guess_arch(state)
        if guess and spec is not None and guess != spec.arch:
            hint = f' (the weights look like {guess!r})'
        elif spec is not None and has_gates(state) != (spec.instances > 1):
            hint = (' (the file has lambda gates: use instances >= 2)' if has_gates(state)
                    else ' (the file has no lambda gates: use instances=1, or load_backbone() to start '
                         'MIPNet training from it)')
        raise CheckpointError(f'{source}: weights do not fit {what}{hint}: ' + '; '.join(problems))
    full = dict(state)
    for k, v in model.state_dict().items():
        full.setdefault(k, v)        # only num_batches_tracked can be absent here
    model.load_state_dict(full, strict=True)
    return model


def _spec_for_official(path: Path, state: Mapping[str, torch.Tensor], arch, instances, num_joints,
                       input_size) -> ModelSpec:
    if arch == AUTO_ARCH:
        arch = guess_arch(state)
        if arch is None:
            raise CheckpointError(
                f'{path}: official-format checkpoint whose weight shapes match none of the known architectures; '
                f'name it (arch parameter, --arch, arch=): one of {", ".join(ARCHS)}')
    if arch is None:
        guess = guess_arch(state)
        hint = f' (the weights look like {guess!r})' if guess else ''
        raise CheckpointError(
            f'{path}: official-format checkpoint without a model spec; its architecture must be given '
            f'(--arch on the command line, arch= in Python; one of {", ".join(ARCHS)}){hint}')
    if arch not in ARCHS:
        raise CheckpointError(f'unknown arch {arch!r}; choose one of {", ".join(ARCHS)}')
    if instances is None:
        # N=3/4 files have exactly the same keys as N=2 (lambda is always a 2-vector): only the
        # presence of gates can be read from the file.
        instances = 2 if has_gates(state) else 1
    if num_joints is None:
        final = state.get('final_layer.weight')
        num_joints = int(final.shape[0]) if final is not None else 17
    if input_size is None:
        input_size = ARCHS[arch].default_input_size
    return ModelSpec(arch=arch, instances=int(instances), num_joints=int(num_joints),
                     input_size=parse_input_size(input_size))


def _spec_for_ours(path: Path, stored: Mapping[str, Any], arch, instances, num_joints, input_size) -> ModelSpec:
    spec = ModelSpec.from_dict(stored)
    arch = None if arch == AUTO_ARCH else arch
    for name, value in (('arch', arch), ('instances', instances), ('num_joints', num_joints)):
        if value is not None and value != getattr(spec, name):
            raise CheckpointError(f'{path}: the file is a {name}={getattr(spec, name)!r} model, '
                                  f'but {name}={value!r} was requested')
    if input_size is not None:   # fully convolutional: running at another resolution is legitimate
        spec = spec.replace(input_size=parse_input_size(input_size))
    return spec


def load_checkpoint(path: PathLike, arch: Optional[str] = None, instances: Optional[int] = None,
                    num_joints: Optional[int] = None, input_size=None, map_location='cpu',
                    allow_pickle: bool = False) -> PoseNet:
    """A ready model in eval mode from our file or an official one (see the module docstring).

    arch: None = ours only (an official file then fails with a hint); AUTO_ARCH = ours, else the
    architecture guess_arch() recognises from the weight shapes (checked strictly on load).

    `model.checkpoint_info` records the path and the wrapper that was found.
    """
    path = Path(path)
    obj = _read(path, map_location, allow_pickle)
    if isinstance(obj, Mapping) and 'spec' in obj and 'state_dict' in obj:
        try:
            spec = _spec_for_ours(path, obj['spec'], arch, instances, num_joints, input_size)
        except (TypeError, ValueError) as exc:
            if isinstance(exc, CheckpointError):
                raise
            raise CheckpointError(f'{path}: invalid model spec {obj["spec"]!r}: {exc}') from exc
        state, wrapper = _strip_prefix(obj['state_dict']), FORMAT
    else:
        state, wrapper = extract_state_dict(obj, path)
        spec = _spec_for_official(path, state, arch, instances, num_joints, input_size)
    model = build_model(spec)
    load_state_dict_checked(model, state, str(path))
    model.checkpoint_info = {'path': str(path), 'format': wrapper}
    if wrapper == FORMAT:      # what it was trained at, so that callers can warn when it runs at another size
        model.checkpoint_info['trained_input_size'] = tuple(ModelSpec.from_dict(obj['spec']).input_size)
    return model.eval()


def load_backbone(model: PoseNet, path: PathLike, map_location='cpu', allow_pickle: bool = False) -> List[str]:
    """Loads a plain (N=1) or MIPNet file into an existing model, leaving absent gates at their init.

    This is how MIPNet training starts (the official recipe initialises from the COCO HRNet weights
    with the gates random). Any other missing, unexpected or mis-shaped key is still an error.
    Returns the keys that kept their initial values.
    """
    path = Path(path)
    return apply_backbone(model, _read(path, map_location, allow_pickle), path)


def read_checkpoint(path: PathLike, map_location='cpu', allow_pickle: bool = False) -> Any:
    """The raw object of a checkpoint file, with the same integrity checks and errors as load_checkpoint."""
    return _read(Path(path), map_location, allow_pickle)


def apply_backbone(model: PoseNet, obj: Any, path: PathLike) -> List[str]:
    """load_backbone on an object already read (see read_checkpoint), for callers that also need
    the file's other entries and should not read it twice."""
    path = Path(path)
    if isinstance(obj, Mapping) and 'spec' in obj and 'state_dict' in obj:
        state = _strip_prefix(obj['state_dict'])
    else:
        state, _ = extract_state_dict(obj, path)
    own = _unwrap(model).state_dict()
    kept = [k for k in own if k not in state and k.startswith(GATE_PREFIXES)]
    merged = dict(state)
    merged.update({k: own[k] for k in kept})
    load_state_dict_checked(_unwrap(model), merged, str(path))
    return kept


def _unwrap(model: nn.Module) -> nn.Module:
    while hasattr(model, 'module') and isinstance(model.module, nn.Module) and not hasattr(model, 'spec'):
        model = model.module      # DataParallel / DistributedDataParallel
    return model


def save_checkpoint(path: PathLike, model: nn.Module, **extra) -> Path:
    """Writes {'format', 'format_version', 'spec', 'state_dict', **extra} atomically.

    Written through fileio.atomic_path: a crash leaves either the old file or the new one, never
    half a file. `extra`
    should hold tensors and plain containers only (epoch, optimizer state, metrics) so that the
    file stays loadable with torch.load(weights_only=True).
    """
    path = Path(path)
    model = _unwrap(model)
    spec = getattr(model, 'spec', None)
    if spec is None:
        raise TypeError('save_checkpoint needs a PoseNet (a model with a .spec)')
    payload = {'format': FORMAT, 'format_version': FORMAT_VERSION, 'spec': spec.to_dict(),
               'state_dict': model.state_dict()}
    clash = set(extra) & set(payload)
    if clash:
        raise ValueError(f'extra keys {sorted(clash)} are reserved')
    payload.update(extra)
    with atomic_path(path) as tmp, open(tmp, 'wb') as f:
        torch.save(payload, f)
    return path
