"""What the ROS node costs on top of the network: the `node_overhead` section of `bench`.

The node runs in this process, so its own per-stage clocks can be read, and receives frames over real DDS from
a driver node, as from a camera and a detector. Per frame: pairing (the image and detection callbacks), convert
(image message to BGR, box selection), model (the PoseEstimator call), message (PersonKeypointsArray) and
publish. rclpy deserialises the incoming bytes before any callback runs, so that cost is timed apart on the
same messages (deserialize_ms). Overhead = deserialize + pairing + convert + message + publish; visualisation
is off, as nobody subscribes to it."""
import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

OVERHEAD_STAGES = ('deserialize', 'pairing', 'convert', 'message', 'publish')


def deserialize_ms(messages: Sequence[Any], repeats: int = 20) -> float:
    """Median ms to turn the serialized `messages` back into Python messages (what rclpy does per frame)."""
    from rclpy.serialization import deserialize_message, serialize_message
    blobs = [(type(m), serialize_message(m)) for m in messages]
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for cls, blob in blobs:
            deserialize_message(blob, cls)
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def _median(rows: Sequence[Dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def measure_node_overhead(model: Optional[str] = None, arch: str = 'hrnet_w16s', input_size=(256, 192),
                          instances: Optional[int] = 2, people: int = 10, frames: int = 8, warmup: int = 2,
                          width: int = 640, height: int = 480, domain_id: Optional[int] = None,
                          timeout: float = 120.0) -> Dict[str, Any]:
    """Median per-stage times of the node over `frames` frames with `people` boxes each.

    `model=None` writes an untrained checkpoint of `arch` (speed does not depend on the weights);
    with a model file, `arch` and `input_size` are read from it and `instances=None` uses all of its.
    """
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.lifecycle import TransitionCallbackReturn
    from rclpy.parameter import Parameter

    from mipnet_ros.core.model.untrained import write_untrained_checkpoint
    from mipnet_ros.offline.launcher import domain_id_for
    from mipnet_ros.ros.pose_node import MipnetNode
    from mipnet_ros.tools.soak import FrameSource, SoakDriver

    tmp = tempfile.TemporaryDirectory(prefix='mipnet-overhead-')
    model_is_temporary = model is None
    if model is None:
        model = str(write_untrained_checkpoint(Path(tmp.name) / f'{arch}.pth', arch, instances or 2, tuple(input_size)))
    domain = domain_id_for('overhead') if domain_id is None else domain_id
    ns = f'overhead_{int(time.time() * 1000) % 100000}'
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=domain)
    overrides = [Parameter('model', value=str(model)), Parameter('instances', value=int(instances or 0)),
                 Parameter('max_boxes', value=max(people, 1)), Parameter('publish_markers', value=False),
                 Parameter('publish_annotated', value=False), Parameter('qos.image.reliability', value='reliable')]
    node = MipnetNode(namespace=ns, context=ctx, parameter_overrides=overrides)
    executor = SingleThreadedExecutor(context=ctx)
    executor.add_node(node)
    spin = threading.Thread(target=executor.spin, daemon=True)
    spin.start()
    driver = None
    try:
        ok = TransitionCallbackReturn.SUCCESS
        if node.trigger_configure() != ok or node.trigger_activate() != ok:
            raise RuntimeError('the node did not start: see its log above')
        spec = node.estimator_spec()
        driver = SoakDriver(namespace=ns, domain_id=domain)
        if not driver.wait_for_node(30.0):
            raise RuntimeError('the driver and the node did not discover each other')
        source = FrameSource(width, height, people)
        stamp = time.time_ns()
        for i in range(warmup + frames):
            stamp += 100_000_000
            driver.send(*source.frame(i, stamp))
            if driver.wait(stamp, timeout) is None:
                raise RuntimeError(f'no keypoints for frame {i} within {timeout:.0f} s')
        rows: List[Dict[str, float]] = list(node.stage_times)[-frames:]
        decode = deserialize_ms(source.frame(0, stamp))
        rows = [{**r, 'deserialize': decode} for r in rows]
    finally:
        if driver is not None:
            driver.close()
        executor.shutdown(timeout_sec=2.0)
        node.destroy_node()
        rclpy.try_shutdown(context=ctx)
        tmp.cleanup()
    med = {f'{k}_ms': _median(rows, k) for k in ('deserialize', 'pairing', 'convert', 'model', 'message', 'publish')}
    overhead = statistics.median(sum(r[k] for k in OVERHEAD_STAGES) for r in rows)
    return {'people': people, 'people_published_median': _median(rows, 'people'), 'frames': len(rows),
            'image': [height, width], 'model': 'untrained' if model_is_temporary else str(model),
            'arch': spec.arch, 'input_size': list(spec.input_size), 'instances': spec.instances,
            'instances_run': int(instances or spec.instances), **med, 'overhead_ms': overhead,
            'overhead_over_model': overhead / med['model_ms'] if med['model_ms'] > 0 else float('nan'),
            'stages': list(OVERHEAD_STAGES)}


def from_bench_args(args: argparse.Namespace) -> Dict[str, Any]:
    """The bench's architecture (random weights) and the bundled model, both with 10 people."""
    from mipnet_ros.core.model.registry import ARCHS, parse_input_size
    from mipnet_ros.core.resources import bundled_model_path
    arch = args.arch or ('hrnet_w16s' if args.quick else 'hrnet_w32')
    size = parse_input_size(args.input_size) if args.input_size else ARCHS[arch].default_input_size
    people = int(args.backend_boxes)
    frames = 3 if args.quick else 6
    out: Dict[str, Any] = {'bench_arch': measure_node_overhead(None, arch, size, 2, people, frames)}
    try:
        bundled = bundled_model_path()
    except FileNotFoundError:
        bundled = None
    if bundled is not None:
        out['bundled_model'] = measure_node_overhead(str(bundled), instances=None, people=people, frames=frames)
    for name, r in out.items():
        print(f'  node overhead ({name}: {r["arch"]} {r["input_size"][0]}x{r["input_size"][1]}, {people} people): '
              f'{r["overhead_ms"]:.2f} ms vs model {r["model_ms"]:.1f} ms = {100 * r["overhead_over_model"]:.1f} %')
    return out
