"""Model names -> files: the one place that turns 'hrnet_w32_coco' into a checkpoint path.

The estimator, `train --init`, the node and the `weights` command all call `resolve_model`. A zoo
file is verified (sha256), converted once to our self-describing format (arch, N, input size in
the file) and kept as `<cache>/weights/<name>.pth`, so every consumer loads it like any of our
checkpoints; the publisher's original stays beside it under its own name. A file with no published
checksum (the official MIPNet file) must load as its entry's architecture; its sha256 is then recorded
and a later file that differs is refused (core/weights/recorded.py).
"""
import os
import sys
from pathlib import Path
from typing import Optional, Tuple, Union

from mipnet_ros.core.fileio import file_sha256
from mipnet_ros.core.weights.cache import weights_dir
from mipnet_ros.core.weights.download import DownloadError, digest_matches, download
from mipnet_ros.core.weights.recorded import record_path, record_sha256, recorded_sha256
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
            f'or download {entry.by_hand} by hand and put it at {target}')
    return ModelNotAvailable(
        f'{entry.name} cannot be downloaded by a script: get it from {entry.manual} and put it at {target}; '
        f'`{COMMAND} {entry.name}` then checks and converts it')


def expected_sha256(entry: ZooEntry) -> Tuple[str, str]:
    """(digest or prefix, where it came from): the published one, else the one recorded at the first fetch."""
    if entry.sha256:
        return entry.sha256, 'the published'
    recorded = recorded_sha256(entry.file_name)
    if recorded:
        return recorded, f'the sha256 recorded when {entry.name} was first fetched ({record_path(entry.file_name)})'
    return '', ''


def _verify(entry: ZooEntry, path: Path) -> None:
    expected, origin = expected_sha256(entry)
    if not expected:
        return                    # first use: convert() checks the keys and shapes, then fetch() records it
    digest = file_sha256(path)
    if not digest_matches(digest, expected):
        accept = (f'; if its publisher replaced it on purpose, delete {record_path(entry.file_name)} first'
                  if not entry.sha256 else '')
        raise ModelNotAvailable(f'{path}: sha256 {digest} does not match {origin} {expected} of '
                                f'{entry.name}; delete the file and fetch it again (`{COMMAND} {entry.name}`)'
                                f'{accept}')


def _state_dict(entry: ZooEntry, source: Path):
    from mipnet_ros.core.model.checkpoint import extract_state_dict
    from mipnet_ros.core.weights.mmpose import from_mmpose, is_mmpose, read_mmpose
    state, _ = extract_state_dict(read_mmpose(source), source)
    return from_mmpose(state, str(source)) if is_mmpose(state) else state


def check_weights(entry: ZooEntry, source: Path) -> None:
    """Raises CheckpointError unless `source` holds exactly the keys and shapes of the entry's architecture."""
    from mipnet_ros.core.model.checkpoint import CheckpointError, check_state_dict
    from mipnet_ros.core.model.registry import build_model
    problems = check_state_dict(build_model(entry.spec), _state_dict(entry, source))
    if problems:
        raise CheckpointError(f'it is not {entry.name} ({entry.arch} with N={entry.instances}): '
                              + '; '.join(problems))


def convert(entry: ZooEntry, source: Path, target: Path) -> Path:
    """Writes the weights of `source` (mmpose or official layout) as our checkpoint at `target`."""
    from mipnet_ros.core.model.checkpoint import load_state_dict_checked, save_checkpoint
    from mipnet_ros.core.model.registry import build_model
    state = _state_dict(entry, source)
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
    expected, origin = expected_sha256(entry)
    if not original.is_file():
        if not (entry.downloadable and download_allowed):
            raise _not_available(entry)
        check = None if expected else (lambda part: check_weights(entry, part))
        try:
            download(entry.url, original, expected, timeout=timeout, progress=progress, host=entry.host,
                     check=check, sha256_from=origin, by_hand=entry.page)
        except DownloadError as exc:
            raise DownloadError(f'{exc} (`{COMMAND} {entry.name}` then checks and converts a file put there)') \
                from None
    else:
        _verify(entry, original)
    converted = convert(entry, original, target)
    if not expected:
        record_sha256(entry.file_name, file_sha256(original))
    return converted


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
