"""`python -m mipnet_ros weights list | get NAME | path NAME`: the model zoo from the command line.

`get` downloads (resumable, verified) and converts; `path` prints the checkpoint a name stands
for, for scripts (`--checkpoint $(python -m mipnet_ros weights path hrnet_w32_coco)`).
"""
import argparse
import sys

from mipnet_ros.core.weights.cache import weights_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest='action', metavar='ACTION', required=True)
    sub.add_parser('list', help='every model name: architecture, N, input size, published AP, status')
    get = sub.add_parser('get', help='download (or take the hand-placed file), verify and convert NAME')
    get.add_argument('names', nargs='+', metavar='NAME')
    get.add_argument('--timeout', type=float, default=30.0, help='seconds without data before giving up')
    get.add_argument('--no-progress', action='store_true', help='no progress bar')
    path = sub.add_parser('path', help='print the checkpoint path of NAME (fails when it is not fetched yet)')
    path.add_argument('name', metavar='NAME')


def _list() -> int:
    from mipnet_ros.core.weights.recorded import recorded_sha256
    from mipnet_ros.core.weights.resolve import status
    from mipnet_ros.core.weights.zoo import ZOO
    print(f'cache: {weights_dir()}')
    print(f'{"name":<32} {"arch":<10} {"N":>2} {"input":>8} {"AP":>5}  {"status":<8} source')
    for e in ZOO.values():
        source = {'gdrive': 'Google Drive'}.get(e.host, 'download') if e.downloadable else 'manual'
        check = ''
        if not e.sha256:
            recorded = recorded_sha256(e.file_name)
            check = (f' (no published checksum; sha256 {recorded[:12]}... recorded at the first fetch)' if recorded
                     else ' (no published checksum: checked by its keys and shapes, then its sha256 is recorded)')
        print(f'{e.name:<32} {e.arch:<10} {e.instances:>2} {e.input_size[0]:>4}x{e.input_size[1]:<3} '
              f'{e.published_ap:>5.1f}  {status(e):<8} {source}{check}')
    print('AP: as published (not measured here); see each entry\'s ap_note in mipnet_ros/core/weights/zoo.py')
    return 0


def _get(args) -> int:
    from mipnet_ros.core.weights.download import DownloadError
    from mipnet_ros.core.weights.resolve import fetch
    from mipnet_ros.core.weights.zoo import get_entry
    failed = 0
    for name in args.names:
        try:
            path = fetch(get_entry(name), download_allowed=True, progress=not args.no_progress,
                         timeout=args.timeout)
        except (KeyError, FileNotFoundError, DownloadError, ValueError) as exc:
            print(f'weights: error: {exc}', file=sys.stderr)
            failed += 1
            continue
        print(path)
    return 1 if failed else 0


def _path(args) -> int:
    from mipnet_ros.core.weights.resolve import resolve_model
    try:
        print(resolve_model(args.name, download=False))
    except FileNotFoundError as exc:
        print(f'weights: error: {exc}', file=sys.stderr)
        return 1
    return 0


def main(args: argparse.Namespace) -> int:
    if args.action == 'list':
        return _list()
    if args.action == 'get':
        return _get(args)
    return _path(args)
