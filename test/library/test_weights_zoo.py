"""The zoo table is well formed, and names resolve everywhere a model path is accepted.

A tiny HRNet saved in mmpose's layout is served from a loopback HTTP server under a test entry:
the estimator, `train --init` and the `weights` command take its name, fetch it once (verified
against the published-prefix convention), convert it and use the cached file afterwards.
"""
from pathlib import Path

import numpy as np
import pytest
import torch

from mipnet_ros.core.model.registry import ModelSpec, build_model  # noqa: E402
from mipnet_ros.core.weights import (
    resolve,  # noqa: E402
    zoo,  # noqa: E402
)
from mipnet_ros.core.weights.cache import partial_dir, weights_dir  # noqa: E402

SIZE = (128, 96)


def test_every_entry_is_well_formed():
    assert len(zoo.ZOO) == len(zoo.ENTRIES)
    for e in zoo.ENTRIES:
        zoo.check_entry(e)
        assert e.facts_from and e.licence and e.ap_note and 0 < e.published_ap < 100
        if e.layout == 'mmpose':       # mmpose names end in the first 8 hex digits of the sha256
            assert e.downloadable and e.sha256_is_prefix and f'-{e.sha256}_' in e.file_name
    required = {('hrnet_w32', (256, 192)), ('hrnet_w48', (256, 192)), ('hrnet_w48', (384, 288))}
    downloadable = {(e.arch, e.input_size) for e in zoo.ENTRIES
                    if e.downloadable and e.training_data.startswith('COCO')}
    assert required <= downloadable
    assert any(e.downloadable and e.host == 'gdrive' and e.instances >= 2 for e in zoo.ENTRIES), 'the MIPNet file'


@pytest.mark.parametrize('change,why', [
    ({'arch': 'hrnet_w64'}, 'unknown arch'), ({'input_size': (250, 190)}, 'multiples of 32'),
    ({'url': 'http://x/y.pth', 'file_name': 'y.pth'}, 'https'), ({'sha256': ''}, 'without a checksum'),
    ({'sha256': 'XYZ12345'}, 'hex'), ({'manual': 'somewhere'}, 'exactly one')])
def test_check_entry_rejects_malformed_entries(change, why):
    import dataclasses
    with pytest.raises(ValueError, match=why):
        zoo.check_entry(dataclasses.replace(zoo.ZOO['hrnet_w32_coco'], **change))


def test_paths_and_unknown_names(weights_cache, tmp_path):
    existing = tmp_path / 'mine.pth'
    existing.write_bytes(b'x')
    assert resolve.resolve_model(str(existing)) == existing
    with pytest.raises(FileNotFoundError, match='model file not found'):
        resolve.resolve_model(str(tmp_path / 'nope.pth'))
    with pytest.raises(resolve.ModelNotAvailable, match='hrnet_w32_coco.*weights list'):
        resolve.resolve_model('hrnet_w33_coco')


def test_missing_names_say_what_to_run_or_where_to_put_the_file(weights_cache):
    entry = zoo.ZOO['hrnet_w32_coco']
    with pytest.raises(resolve.ModelNotAvailable) as err:
        resolve.resolve_model('hrnet_w32_coco', download=False)
    text = str(err.value)
    assert 'python -m mipnet_ros weights get hrnet_w32_coco' in text and entry.url in text
    assert str(weights_dir() / entry.file_name) in text
    manual = next(e for e in zoo.ENTRIES if not e.downloadable)
    with pytest.raises(resolve.ModelNotAvailable) as err:
        resolve.resolve_model(manual.name, download=True)
    assert manual.manual in str(err.value) and str(weights_dir() / manual.file_name) in str(err.value)


def test_estimator_fetches_a_name_once_and_then_uses_the_cache(tiny_zoo_model):
    from mipnet_ros.core.estimator import PoseEstimator
    net, entry, server = tiny_zoo_model
    with pytest.raises(resolve.ModelNotAvailable, match='weights get tiny_coco'):
        PoseEstimator(model='tiny_coco', allow_download=False)
    assert server.requests == []
    est = PoseEstimator(model='tiny_coco')                  # the library default downloads
    assert (est.spec.arch, est.spec.instances, est.input_size) == ('hrnet_w16s', 1, entry.input_size)
    assert Path(est.model_path) == weights_dir() / 'tiny_coco.pth'
    assert (weights_dir() / entry.file_name).is_file() and not list(partial_dir().glob('*.part'))
    image = np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8)
    keypoints, _ = est.estimate_batch(image, np.array([[100, 40, 180, 220]], np.float32))
    with torch.no_grad():   # same network, same crop: the heatmap peaks decode to the same keypoints
        ref = PoseEstimator(model=net)
    assert np.allclose(keypoints, ref.estimate_batch(image, np.array([[100, 40, 180, 220]], np.float32))[0])
    PoseEstimator(model='tiny_coco', allow_download=False)
    assert len(server.requests) == 1


def test_hand_placed_file_with_the_wrong_hash_is_refused(tiny_zoo_model):
    _, entry, server = tiny_zoo_model
    weights_dir().mkdir(parents=True)
    (weights_dir() / entry.file_name).write_bytes(b'not the published file')
    with pytest.raises(resolve.ModelNotAvailable, match='does not match the published'):
        resolve.resolve_model('tiny_coco', download=True)
    assert not (weights_dir() / 'tiny_coco.pth').exists() and server.requests == []


def test_train_init_by_name_keeps_the_gates_random(tiny_zoo_model):
    from mipnet_ros.core.train import load_init_weights
    net, _, _ = tiny_zoo_model
    model = build_model(ModelSpec('hrnet_w16s', 2, input_size=SIZE))
    gates_before = {k: v.clone() for k, v in model.state_dict().items() if '_se.' in k}
    info = load_init_weights(model, 'tiny_coco')
    assert info['random'] == len(gates_before) > 0
    state = model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in gates_before.items())
    assert all(torch.equal(state[k], v) for k, v in net.state_dict().items())


def test_weights_command(tiny_zoo_model, capsys):
    from mipnet_ros.cli import main
    _, entry, _ = tiny_zoo_model
    assert main(['weights', 'path', 'tiny_coco']) == 1
    assert 'weights get tiny_coco' in capsys.readouterr().err
    assert main(['weights', 'get', 'tiny_coco', '--no-progress']) == 0
    assert capsys.readouterr().out.strip() == str(weights_dir() / 'tiny_coco.pth')
    assert main(['weights', 'path', 'tiny_coco']) == 0
    assert capsys.readouterr().out.strip() == str(weights_dir() / 'tiny_coco.pth')
    assert main(['weights', 'list']) == 0
    listing = capsys.readouterr().out
    assert any(line.startswith('tiny_coco ') and ' ready ' in line for line in listing.splitlines())
    assert main(['weights', 'get', 'hrnet_w99']) == 1
