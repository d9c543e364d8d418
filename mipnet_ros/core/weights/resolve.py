"""Model names -> files: the one place that turns 'hrnet_w32_coco' into a checkpoint path.

The estimator, `train --init`, the node and the `weights` command all call `resolve_model`. A zoo
file is verified (sha256), converted once to our self-describing format (arch, N, input size in
the file) and kept as `<cache>/weights/<name>.pth`, so every consumer loads it like any of our
checkpoints; the publisher's original stays beside it under its own name.
"""
import os
import sys
from pathlib import Path
from typing import Optional, Union

from mipnet_ros.core.weights.cache import weights_dir
from mipnet_ros.core.fileio import file_sha256
from mipnet_ros.core.weights.download import digest_matches, download
from mipnet_ros.core.weights.zoo import ZOO, ZooEntry

COMMAND = 'python -m mipnet_ros weights get'


class ModelNotAvailable(FileNotFoundError):
    """A known name whose file is not in the cache and may not (or cannot) be downloaded now."""


def converted_path(entry: ZooEntry) -> Path:
    return weights_dir() / f'{entry.name}.pth'


def original_path(entry: ZooEntry) -> Path:
    return weights_dir() / entry.file_name


def status(entry: ZooEntry) -> str:
    """'ready' (converted), 'fetched' (original present, not yet converted) or 'missing'."""
    if converted_path(entry).is_file():
        return 'ready'
    return 'fetched' if original_path(entry).is_file() else 'missing'


def _not_available(entry: ZooEntry) -> ModelNotAvailable:
    target = original_path(entry)
    if entry.downloadable:
        return ModelNotAvailable(
            f'{entry.name} is not in the cache ({target.parent}) and downloading was not allowed: run '
            f'`{COMMAND} {entry.name}` once (or allow_download=True / the node parameter allow_download: true), '
            f'or download {entry.url} by hand and put it at {target}')
    return ModelNotAvailable(
        f'{entry.name} cannot be downloaded by a script: get it from {entry.manual} and put it at {target}; '
        f'`{COMMAND} {entry.name}` then checks and converts it')


def _verify(entry: ZooEntry, path: Path) -> None:
    if not entry.sha256:
        return                    # nothing published to check against (said in `weights list`)
    digest = file_sha256(path)
    if not digest_matches(digest, entry.sha256):
        raise ModelNotAvailable(f'{path}: sha256 {digest} does not match the published {entry.sha256} of '
                                f'{entry.name}; delete the file and fetch it again (`{COMMAND} {entry.name}`)')


def convert(entry: ZooEntry, source: Path, target: Path) -> Path:
    """Writes the weights of `source` (mmpose or official layout) as our checkpoint at `target`."""
    from mipnet_ros.core.model.checkpoint import extract_state_dict, load_state_dict_checked, save_checkpoint
    from mipnet_ros.core.model.registry import build_model
    from mipnet_ros.core.weights.mmpose import from_mmpose, is_mmpose, read_mmpose
    state, _ = extract_state_dict(read_mmpose(source), source)
    if is_mmpose(state):
        state = from_mmpose(state, str(source))
    model = build_model(entry.spec)
    load_state_dict_checked(model, state, str(source))
    origin = {'name': entry.name, 'file_name': entry.file_name, 'url': entry.url or entry.manual,
              'sha256': entry.sha256, 'layout': entry.layout}
    return save_checkpoint(target, model.eval(), zoo_source=origin)


def fetch(entry: ZooEntry, download_allowed: bool = True, progress: bool = True, timeout: float = 30.0) -> Path:
    """The converted checkpoint of `entry`, downloading, verifying and converting what is missing."""
    target = converted_path(entry)
    if target.is_file():
        return target
    original = original_path(entry)
    if not original.is_file():
        if not (entry.downloadable and download_allowed):
            raise _not_available(entry)
        download(entry.url, original, entry.sha256, timeout=timeout, progress=progress)
    else:
        _verify(entry, original)
    return convert(entry, original, target)


def resolve_model(name_or_path: Union[str, os.PathLike], download: bool = False,
                  progress: Optional[bool] = None, timeout: float = 30.0) -> Path:
    """An existing file path as given, or the cached checkpoint of a zoo name.

    download: fetch a missing zoo file (otherwise ModelNotAvailable says which command to run).
    progress: a tqdm bar while downloading; None = only when stderr is a terminal (not in node logs).
    Raises FileNotFoundError (ModelNotAvailable for known names) with a message that says what to do.
    """
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path
    name = str(name_or_path)
    if name in ZOO:
        if progress is None:
            progress = sys.stderr.isatty()
        return fetch(ZOO[name], download_allowed=download, progress=progress, timeout=timeout)
    if os.sep in name or path.suffix:
        raise FileNotFoundError(f'model file not found: {path}')
    raise ModelNotAvailable(f'model file not found: {path}; {name!r} is not a zoo name either (known: '
                            f'{", ".join(ZOO)}; python -m mipnet_ros weights list)')
