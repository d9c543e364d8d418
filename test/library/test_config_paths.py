"""Training configs: relative paths follow the file (its `root`), not the current directory; bad keys say so."""
from pathlib import Path

import pytest

from mipnet_ros.core.errors import UsageError
from mipnet_ros.core.train_config import load_config

REPO = Path(__file__).resolve().parents[2]


def test_paths_resolve_against_root_relative_to_the_file(tmp_path, monkeypatch):
    (tmp_path / 'configs').mkdir()
    cfg_file = tmp_path / 'configs' / 'x.yaml'
    cfg_file.write_text('root: ..\n'
                        'model: {init_checkpoint: models/init.pth}\n'
                        'data: {train_ann: data/train.json, train_images: data/img, val_ann: /abs/val.json,\n'
                        '       val_boxes: gt}\n'
                        'run: {out_dir: runs}\n')
    elsewhere = tmp_path / 'somewhere' / 'else'
    elsewhere.mkdir(parents=True)
    monkeypatch.chdir(elsewhere)
    cfg = load_config('../../configs/x.yaml')           # a relative path to the file itself, from elsewhere
    assert cfg.root == str(tmp_path)
    assert cfg.data.train_ann == str(tmp_path / 'data' / 'train.json')
    assert cfg.data.train_images == str(tmp_path / 'data' / 'img')
    assert cfg.model.init_checkpoint == str(tmp_path / 'models' / 'init.pth')
    assert cfg.run.out_dir == str(tmp_path / 'runs')
    assert cfg.data.val_ann == '/abs/val.json' and cfg.data.val_boxes == 'gt' and cfg.data.val_images == ''
    # command-line values are the user's, relative to where they are
    cfg = load_config(str(cfg_file), ['data.train_ann=mine.json', 'run.out_dir=out'])
    assert cfg.data.train_ann == 'mine.json' and cfg.run.out_dir == 'out'
    assert cfg.data.train_images == str(tmp_path / 'data' / 'img')
    # --set root=DIR moves every path of the file
    cfg = load_config(str(cfg_file), [f'root={tmp_path / "data_root"}'])
    assert cfg.data.train_ann == str(tmp_path / 'data_root' / 'data' / 'train.json')


def test_default_root_is_the_files_folder(tmp_path):
    cfg_file = tmp_path / 'x.yaml'
    cfg_file.write_text('data: {train_ann: a.json}\n')
    assert load_config(str(cfg_file)).data.train_ann == str(tmp_path / 'a.json')


def test_shipped_configs_work_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = load_config(str(REPO / 'config' / 'train' / 'synth_hrnet_w16s_n2.yaml'))
    assert cfg.data.train_ann == str(REPO / 'out' / 'synth_small' / 'train.json')
    assert cfg.model.init_checkpoint == str(REPO / 'runs' / 'synth_hrnet_w16s_pre' / 'final.pth')
    for path in sorted((REPO / 'config' / 'train').glob('*.yaml')):
        text = path.read_text()
        if 'data:' in text and 'ros__parameters' not in text and 'synth:' not in text:
            assert load_config(str(path)).root == str(REPO), path.name


@pytest.mark.parametrize('overrides, words', [
    (['optim.lrr=1'], "unknown key 'lrr'"),
    (['optimiser.lr=1'], "no section 'optimiser'"),
    (['optim.lr=fast'], 'cannot read'),
    (['optim.lr'], 'KEY=VALUE'),
    (['optim=1'], "unknown key 'optim'"),
    (['model.input_size=[1, x'], 'YAML'),
])
def test_bad_set_says_what_is_wrong(overrides, words):
    with pytest.raises(UsageError, match=words):
        load_config(None, overrides)


def test_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match='config file not found'):
        load_config(str(tmp_path / 'missing.yaml'))
    bad = tmp_path / 'bad.yaml'
    bad.write_text('model: [1, 2]\n')
    with pytest.raises(UsageError, match='expected a mapping'):
        load_config(str(bad))
    bad.write_text('model: {arch: x\n')
    with pytest.raises(UsageError, match='not valid YAML'):
        load_config(str(bad))


def test_synth_config_paths_follow_the_file(tmp_path, monkeypatch):
    from mipnet_ros.synth.config import SynthConfig
    monkeypatch.chdir(tmp_path)
    cfg = SynthConfig.from_yaml(str(REPO / 'config' / 'synth' / 'synth_small.yaml'))
    assert cfg.out_dir == str(REPO / 'out' / 'synth_small')
    assert cfg.image_root == str(REPO.parent / 'shared' / 'data')
    (tmp_path / 's.yaml').write_text('synth: {image_root: /abs/data, out_dir: here}\n')
    cfg = SynthConfig.from_yaml('s.yaml')
    assert cfg.image_root == '/abs/data' and cfg.out_dir == str(tmp_path / 'here')
