"""One entry point per job: `python -m mipnet_ros <command>`.

Each command lives in its own module exposing `add_arguments(parser)` and `main(args) -> int`.
Only the module of the command that runs is imported, so `--help` is instant and the ROS-free
commands never touch rclpy. Mistakes a user can fix (UsageError, missing files) end as one line
`<command>: error: ...` with exit status 2; every option's --help shows its default.
"""
import argparse
import importlib
import sys
from typing import List, Optional

from mipnet_ros.core.errors import UsageError

# name -> (module, one-line help a newcomer understands)
COMMANDS = {
    'demo': ('mipnet_ros.offline.demo',
             'replay the bundled bag through the ROS 2 node; write keypoints and annotated frames to out/'),
    'train': ('mipnet_ros.core.train', 'train a model from a YAML config (resumable; torchrun for multi-GPU)'),
    'eval': ('mipnet_ros.core.evaluate', 'OKS AP/AR of a checkpoint on COCO, CrowdPose or OCHuman annotations'),
    'export': ('mipnet_ros.offline.export_command', 'export a checkpoint (ours or official) to ONNX and check it'),
    'bench': ('mipnet_ros.tools.bench', 'speed benchmark: shared trunk vs per-instance, torch vs onnxruntime'),
    'synth': ('mipnet_ros.synth', 'generate the occlusion benchmark (COCO format) from real cut-outs'),
    'report': ('mipnet_ros.tools.report',
               'write the occlusion results table, plot and JSON (to out/results/ unless --out)'),
    'replay': ('mipnet_ros.offline.replay', 'replay a ROS 2 bag through a running node and record its outputs'),
    'soak': ('mipnet_ros.tools.soak', 'soak benchmark: many frames through the node, RSS and latency'),
    'weights': ('mipnet_ros.core.weights.command',
                'pretrained models by name: list, get (verified download into the user cache), path'),
    'track-eval': ('mipnet_ros.tools.track_eval',
                   'tracking benchmark: MOTA, IDF1, ID switches of N=1 vs N=2 vs oracle on crossing sequences'),
    'check': ('mipnet_ros.tools.gpu_check',
              'check that a GPU (CUDA, fp16, OOM retry, onnxruntime CUDA/TensorRT) gives the CPU float32 results'),
}


def show_defaults(parser: argparse.ArgumentParser) -> None:
    """Append '(default: X)' to every option whose help does not already say its default.

    Flags (store_true/store_false/store_const: their default is the value of the destination when
    the flag is absent, often shared with another flag, not a default of the flag itself) and options
    without a default (None, '') have nothing to show.
    """
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):     # e.g. `weights get`: its options too
            for sub in dict.fromkeys(action.choices.values()):
                show_defaults(sub)
            continue
        default = action.default
        nothing = default is None or default is False or default is argparse.SUPPRESS or action.nargs == 0 or (
            isinstance(default, (str, list, tuple)) and not default)
        if action.help == argparse.SUPPRESS or nothing:
            continue
        text = action.help or ''
        if 'default' not in text.lower():
            action.help = (text + ' ' if text else '') + '(default: %(default)s)'


def build_parser(only: Optional[str] = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='python -m mipnet_ros',
        description='MIPNet multi-instance pose estimation: every person in a box, the hidden ones too.')
    sub = parser.add_subparsers(dest='command', metavar='COMMAND')
    for name, (module_name, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == only:
            importlib.import_module(module_name).add_arguments(p)
            show_defaults(p)
    return parser


def error_line(command: str, exc: BaseException) -> str:
    """`<command>: error: <what to fix>` for the exceptions a user can act on."""
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        what = f'{exc.strerror}: {exc.filename}'
    else:
        what = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    return f'{command}: error: {what}'


# what a job may raise that is the user's to fix (UsageError covers bad input, config and checkpoints)
USER_ERRORS = (UsageError, FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError)


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith('-')), None)
    if command is None:
        build_parser().print_help()
        return 0
    try:
        args = build_parser(only=command if command in COMMANDS else None).parse_args(argv)
    except SystemExit as exc:          # --help, or argparse's "invalid choice" / missing argument line
        return exc.code if isinstance(exc.code, int) else 2
    module = importlib.import_module(COMMANDS[command][0])
    try:
        return int(module.main(args) or 0)
    except USER_ERRORS as exc:
        print(error_line(command, exc), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f'{command}: interrupted', file=sys.stderr)
        return 130


if __name__ == '__main__':
    sys.exit(main())
