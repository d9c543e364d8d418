"""The official MIPNet file by name, from a server that answers as Google Drive does.

Checkpoints written by the official MIPNet code (random weights) are shared by a loopback Drive
(mipnet_ros/testing/loopback_drive.py): its confirmation page is followed, the file must load as the
entry's architecture with N=2, its sha256 is recorded, and a later file that differs is refused. The
real entry's check is shown on the official code's own HRNet-W48 keys and shapes.
"""
import dataclasses
import hashlib
import io

import _reference_models as ref_models
import numpy as np
import pytest
import torch

from mipnet_ros.core.model.checkpoint import CheckpointError
from mipnet_ros.core.weights import resolve, zoo
from mipnet_ros.core.weights.cache import partial_dir, weights_dir
from mipnet_ros.core.weights.download import DownloadError
from mipnet_ros.core.weights.recorded import record_path, recorded_sha256
from mipnet_ros.testing.loopback_drive import DriveServer

NAME = 'mipnet_w48_coco_384x288'
SIZE = (128, 96)
FILE_ID = '1TestFileIdOfTheLoopbackDrive0'


def _official_bytes(gated=True, seed=3) -> bytes:
    """A checkpoint as the official MIPNet code writes it (its model's state_dict), W16s-sized."""
    net = ref_models.build_reference('hrnet_w16s', gated=gated, seed=seed)
    buffer = io.BytesIO()
    torch.save(net.state_dict(), buffer)
    return buffer.getvalue()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv('MIPNET_CACHE', str(tmp_path / 'cache'))
    return tmp_path / 'cache'


@pytest.fixture
def drive(cache, monkeypatch, one_torch_thread):
    """The MIPNet entry under its real name, with a W16s architecture and its URL on the loopback Drive."""
    ref_models.require_reference()
    with DriveServer() as server:
        def share(data, mode='confirm'):
            url = server.add(FILE_ID, data, mode, name='w48_384x288_adam_lr1e-3.pth')
            entry = dataclasses.replace(zoo.ZOO[NAME], arch='hrnet_w16s', input_size=SIZE, url=url)
            monkeypatch.setitem(zoo.ZOO, NAME, entry)
            return entry
        yield server, share


def _nothing_kept(entry):
    return (not (weights_dir() / entry.file_name).exists() and not resolve.converted_path(entry).exists()
            and recorded_sha256(entry.file_name) is None and not list(partial_dir().glob('*.part')))


def test_the_real_entry_is_the_official_drive_file():
    entry = zoo.ZOO[NAME]
    zoo.check_entry(entry)
    assert (entry.arch, entry.instances, entry.input_size) == ('hrnet_w48', 2, (384, 288))
    assert entry.downloadable and entry.host == 'gdrive' and entry.layout == 'official' and not entry.sha256
    assert entry.url == 'https://drive.google.com/uc?export=download&id=1L_GZ_ppb896X01HTdjAg5FcYXAiir5QI'
    assert entry.page == 'https://drive.google.com/file/d/1L_GZ_ppb896X01HTdjAg5FcYXAiir5QI/view'
    assert entry.published_ap == 78.8 and '74.1' in entry.ap_note
    with pytest.raises(ValueError, match='Drive entry'):
        zoo.check_entry(dataclasses.replace(entry, url='https://example.com/x.pth'))
    with pytest.raises(ValueError, match='without a checksum'):
        zoo.check_entry(dataclasses.replace(entry, layout='mmpose'))


def test_missing_name_says_which_command_fetches_it(cache):
    with pytest.raises(resolve.ModelNotAvailable) as err:          # what the node's configure reports
        resolve.resolve_model(NAME, download=False)
    assert f'python -m mipnet_ros weights get {NAME}' in str(err.value) and zoo.ZOO[NAME].page in str(err.value)


@pytest.mark.parametrize('mode', ['confirm', 'legacy', 'direct'])
def test_weights_get_follows_the_confirmation_page_and_records_the_file(drive, capsys, mode):
    from mipnet_ros.cli import main
    from mipnet_ros.core.estimator import PoseEstimator
    server, share = drive
    data = _official_bytes()
    entry = share(data, mode)
    assert main(['weights', 'get', NAME, '--no-progress']) == 0
    assert capsys.readouterr().out.strip() == str(resolve.converted_path(entry))
    assert (weights_dir() / entry.file_name).read_bytes() == data
    assert recorded_sha256(entry.file_name) == hashlib.sha256(data).hexdigest()
    paths = [p for p, _ in server.requests]
    if mode == 'confirm':      # the redirect's page, then the form's URL with the file
        assert paths[0].startswith('/uc?') and paths[1].startswith('/download?')
        assert 'confirm=t' in paths[2] and 'uuid=' in paths[2] and len(paths) == 3
    elif mode == 'legacy':
        assert len(paths) == 2 and 'confirm=' in paths[1]
    else:
        assert len(paths) == 1
    # by name, as the node takes it (allow_download false): the cached file, N=2, the official weights
    est = PoseEstimator(model=NAME, allow_download=False, device='cpu')
    assert (est.spec.arch, est.spec.instances, est.input_size) == ('hrnet_w16s', 2, SIZE)
    ref = ref_models.build_reference('hrnet_w16s', gated=True, seed=3)
    ours = torch.load(resolve.converted_path(entry), map_location='cpu', weights_only=True)['state_dict']
    assert all(torch.equal(ours[k], v) for k, v in ref.state_dict().items())
    image = np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8)
    keypoints, _ = est.estimate_batch(image, np.array([[100, 40, 180, 220]], np.float32))
    assert keypoints.shape[:2] == (1, 2) and np.isfinite(keypoints).all()
    assert main(['weights', 'list']) == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith(NAME))
    assert ' ready ' in line and 'Google Drive' in line and recorded_sha256(entry.file_name)[:12] in line


def test_a_later_file_that_differs_is_refused(drive):
    server, share = drive
    first = _official_bytes(seed=3)
    entry = share(first)
    resolve.fetch(entry, progress=False)
    original, converted = weights_dir() / entry.file_name, resolve.converted_path(entry)
    original.unlink()
    converted.unlink()
    second = _official_bytes(seed=4)                        # valid weights, but not the file seen first
    entry = share(second)
    with pytest.raises(DownloadError) as err:
        resolve.fetch(entry, progress=False)
    assert 'checksum mismatch' in str(err.value) and 'recorded when' in str(err.value)
    assert str(record_path(entry.file_name)) in str(err.value)
    assert not original.exists() and not converted.exists() and not list(partial_dir().glob('*.part'))
    original.write_bytes(second)                             # the same file placed by hand
    with pytest.raises(resolve.ModelNotAvailable, match='recorded when .* delete .*sha256 first'):
        resolve.fetch(entry, download_allowed=False)
    assert not converted.exists()
    record_path(entry.file_name).unlink()                    # the user accepts the new file
    assert resolve.fetch(entry, download_allowed=False) == converted
    assert recorded_sha256(entry.file_name) == hashlib.sha256(second).hexdigest()


def test_a_file_that_is_not_the_architecture_is_discarded(drive):
    _, share = drive
    entry = share(_official_bytes(gated=False))             # an HRNet without the lambda gates (N=1)
    with pytest.raises(DownloadError) as err:
        resolve.fetch(entry, progress=False)
    text = str(err.value)
    assert 'discarded' in text and f'not {NAME} (hrnet_w16s with N=2)' in text and 'missing keys' in text
    assert _nothing_kept(entry)
    entry = share(b'<html>not a checkpoint</html>')         # served as a file, not a page
    with pytest.raises(DownloadError, match='discarded'):
        resolve.fetch(entry, progress=False)
    assert _nothing_kept(entry)


def test_a_page_without_a_download_is_one_clear_error(drive):
    _, share = drive
    entry = share(_official_bytes(), 'quota')
    with pytest.raises(DownloadError) as err:
        resolve.fetch(entry, progress=False)
    text = str(err.value)
    assert 'Google Drive answered with a page instead of the file' in text
    assert 'Too many users have viewed or downloaded this file recently' in text
    assert f'from {entry.page} in a browser' in text and str(weights_dir() / entry.file_name) in text
    assert f'python -m mipnet_ros weights get {NAME}` then checks' in text
    assert _nothing_kept(entry)


def test_the_real_entry_takes_the_official_w48_keys_and_shapes(tmp_path):
    """The official code's HRNet-W48 state dicts (meta tensors saved as stride-0 views: a small file)."""
    ref_models.require_reference()
    entry = zoo.ZOO[NAME]

    def write(gated):
        module = ref_models.reference_module('hrnet_se' if gated else 'hrnet')
        with torch.device('meta'):
            net = module.get_pose_net(ref_models.reference_cfg('hrnet_w48'), is_train=False)
        path = tmp_path / f'w48_{gated}.pth'
        torch.save({k: torch.zeros((), dtype=v.dtype).expand(v.shape) for k, v in net.state_dict().items()}, path)
        assert path.stat().st_size < 5e6
        return path

    resolve.check_weights(entry, write(gated=True))
    with pytest.raises(CheckpointError, match='hrnet_w48 with N=2.*missing keys'):
        resolve.check_weights(entry, write(gated=False))
