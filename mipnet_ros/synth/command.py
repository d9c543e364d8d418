"""`python -m mipnet_ros synth --config config/synth/synth_small.yaml [--split train|test|both]`.

Writes out_dir/train.json + out_dir/train/*.jpg and out_dir/test.json + out_dir/test/*.jpg.
Generated data derived from photographs other than COCO 785 must not be committed or shipped:
the default out_dir is under out/ (git-ignored).
"""
import argparse
import time

from mipnet_ros.synth.config import SynthConfig


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument('--config', default=None,
                        help='YAML with SynthConfig keys (e.g. config/synth/synth_small.yaml)')
    parser.add_argument('--split', choices=['train', 'test', 'both'], default='both', help='which split to write')
    parser.add_argument('--out-dir', default=None, help='override out_dir (default: the config\'s)')
    parser.add_argument('--train-scenes', type=int, default=None, help='override train_scenes (default: the config\'s)')
    parser.add_argument('--test-scenes', type=int, default=None, help='override test_scenes (default: the config\'s)')
    parser.add_argument('--seed', type=int, default=None, help='override seed (default: the config\'s)')
    parser.add_argument('--image-root', default=None, help='folder the source annotation file names are relative to '
                                                           '(default: the config\'s image_root)')
    parser.add_argument('--no-progress', action='store_true', help='no tqdm progress bar')


def main(args: argparse.Namespace) -> int:
    from mipnet_ros.synth.generate import benchmark_summary, build_pools, write_split
    cfg = SynthConfig.from_yaml(args.config) if args.config else SynthConfig()
    for name in ('out_dir', 'train_scenes', 'test_scenes', 'seed', 'image_root'):
        value = getattr(args, name)
        if value is not None:
            setattr(cfg, name, value)
    t0 = time.time()
    pools = build_pools(cfg)
    print(f'real people: {len(pools.train_identities)} train identities, {len(pools.test_identities)} held out '
          f'for test; {len(pools.backgrounds)} painted-out backgrounds')
    splits = ['train', 'test'] if args.split == 'both' else [args.split]
    for split in splits:
        count = cfg.train_scenes if split == 'train' else cfg.test_scenes
        path = write_split(cfg, pools, split, count, progress=not args.no_progress)
        s = benchmark_summary(str(path))
        print(f'{split}: {path} scenes={s["scenes"]} people={s["people"]} hidden={s["hidden_people"]} '
              f'seed={s["seed"]}')
    print(f'done in {time.time() - t0:.1f}s')
    return 0
