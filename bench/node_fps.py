"""Frames per second of the ROS 2 node on this CPU at 1, 5 and 10 people, for one or more model files.

The node runs in this process and gets 640x480 frames over real DDS, one after the other (each frame
sent when the previous one was answered); its own clocks split every frame into deserialize, pairing,
convert, model, message and publish (tools/node_overhead.py). Frames per second = 1 / the sum of the
stages' median times: what the node's single worker sustains when the camera is faster than it.

    source scripts/env.sh && python bench/node_fps.py --model models/mipnet_w16s_n2.pth \\
        --model models/mipnet_w16s_n2.int8.onnx --model W32.int8.onnx --json docs/results/node_fps.json

A .pth runs on torch, an .onnx on onnxruntime (intra_op_threads auto: one per physical core).
"""
import argparse
import sys
import time
from pathlib import Path
from typing import Any, Dict, List


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--model', action='append', required=True, help='model file (repeatable)')
    parser.add_argument('--people', default='1,5,10', help='people per frame (default: %(default)s)')
    parser.add_argument('--frames', type=int, default=5, help='timed frames per setting (default: %(default)s)')
    parser.add_argument('--json', default='out/bench/node_fps.json', help='report path (default: %(default)s)')
    args = parser.parse_args(argv)
    from mipnet_ros.core.fileio import write_json
    from mipnet_ros.tools.bench import environment
    from mipnet_ros.tools.node_overhead import OVERHEAD_STAGES, measure_node_overhead
    t0 = time.perf_counter()
    rows: List[Dict[str, Any]] = []
    for model in args.model:
        for people in (int(p) for p in args.people.split(',')):
            r = measure_node_overhead(model, instances=None, people=people, frames=args.frames, warmup=1,
                                      timeout=600.0)
            frame_ms = r['model_ms'] + sum(r[f'{k}_ms'] for k in OVERHEAD_STAGES)
            row = {'model': Path(model).name, 'arch': r['arch'], 'input_size': r['input_size'],
                   'backend': 'onnxruntime' if model.endswith('.onnx') else 'torch', 'people': people,
                   'frames': r['frames'], 'frame_ms': frame_ms, 'fps': 1000.0 / frame_ms, 'model_ms': r['model_ms'],
                   'overhead_ms': r['overhead_ms']}
            rows.append(row)
            print(f'{row["model"]} ({row["arch"]} {row["input_size"][0]}x{row["input_size"][1]}, {row["backend"]}) '
                  f'{people:>2} people: {row["fps"]:.2f} frames/s ({frame_ms:.0f} ms per frame, model '
                  f'{r["model_ms"]:.0f} ms)', flush=True)
    report = {'rows': rows, 'environment': environment('cpu'),
              'config': {'image': [480, 640], 'frames': args.frames, 'warmup_frames': 1,
                         'fps': '1000 / sum of the median stage times per frame (deserialize, pairing, convert, '
                                'model, message, publish)', 'wall_s': time.perf_counter() - t0,
                         'command': 'python bench/node_fps.py ' + ' '.join(sys.argv[1:] if argv is None else argv)}}
    print(f'wrote {write_json(args.json, report, sort_keys=True)} in {report["config"]["wall_s"]:.0f} s')
    return 0


if __name__ == '__main__':
    sys.exit(main())
