"""One entry point per job: `python -m mipnet_ros <command>`.

Each command lives in its own module exposing `add_arguments(parser)` and `main(args) -> int`.
Only the module of the command that runs is imported, so `--help` is instant and the ROS-free
commands never touch rclpy.
"""
import argparse
import importlib
import sys
from typing import List, Optional

# name -> (module, one-line help a newcomer understands)
COMMANDS = {
    'demo': ('mipnet_ros.ros.demo',
             'replay the bundled bag through the ROS 2 node; write keypoints and annotated frames to out/'),
    'train': ('mipnet_ros.core.train', 'train a model from a YAML config (resumable; torchrun for multi-GPU)'),
    'eval': ('mipnet_ros.core.evaluate', 'OKS AP/AR of a checkpoint on COCO, CrowdPose or OCHuman annotations'),
    'export': ('mipnet_ros.core.export', 'export a checkpoint (ours or official) to ONNX and check it'),
    'bench': ('mipnet_ros.tools.bench', 'speed benchmark: shared trunk vs per-instance, torch vs onnxruntime'),
    'synth': ('mipnet_ros.synth', 'generate the occlusion benchmark (COCO format) from real cut-outs'),
    'report': ('mipnet_ros.tools.report', 'write the occlusion results table, plot and JSON to docs/results/'),
    'replay': ('mipnet_ros.ros.replay', 'replay a ROS 2 bag through a running node and record its outputs'),
    'soak': ('mipnet_ros.tools.soak', 'soak benchmark: many frames through the node, RSS and latency'),
    'track-eval': ('mipnet_ros.tools.track_eval',
                   'tracking benchmark: MOTA, IDF1, ID switches of N=1 vs N=2 vs oracle on crossing sequences'),
    'check': ('mipnet_ros.tools.gpu_check',
              'check that a GPU (CUDA, fp16, OOM retry, onnxruntime CUDA/TensorRT) gives the CPU float32 results'),
}


def build_parser(only: Optional[str] = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog='python -m mipnet_ros',
        description='MIPNet multi-instance pose estimation: every person in a box, the hidden ones too.')
    sub = parser.add_subparsers(dest='command', metavar='COMMAND')
    for name, (module_name, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == only:
            importlib.import_module(module_name).add_arguments(p)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith('-')), None)
    if command not in COMMANDS:
        build_parser().print_help()
        return 0 if not command else 2
    args = build_parser(only=command).parse_args(argv)
    module = importlib.import_module(COMMANDS[command][0])
    return int(module.main(args) or 0)


if __name__ == '__main__':
    sys.exit(main())
