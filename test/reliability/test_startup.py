"""Start-up faults: every broken configuration ends in a clear message that names the parameter to
fix and a lifecycle state that is not 'active' (or a non-zero exit), never in a bare traceback.

All scenarios are launched at once with the real launch file (one namespace each, one domain),
so the file costs about one node start-up. Each node runs with autostart; when it has finished
trying (its lifecycle services answer) its state is read with lifecycle_msgs/GetState and its log
is checked:
  * missing, truncated and wrong-architecture model files, an ONNX file whose input is not the
    3-channel image the pipeline feeds                      -> not active, ERROR naming 'model'
  * an execution provider this onnxruntime does not have  -> active on the CPU, a ROS WARN naming it
    ... with allow_fallback:=false                          -> not active, ERROR naming the parameter
  * a TensorRT cache directory that cannot be created       -> not active, ERROR naming 'trt_cache_dir'
  * device cuda:0 on a machine without CUDA (torch backend) -> fallback with WARN, or ERROR when
    allow_fallback is false (skipped where CUDA exists)
"""
import os
import re
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Optional, Tuple

import pytest

rclpy = pytest.importorskip('rclpy')
from mipnet_ros.core.model.untrained import write_untrained_checkpoint  # noqa: E402
from mipnet_ros.offline.launcher import NodeLauncher, domain_id_for, write_params_file  # noqa: E402

INPUT_SIZE = (128, 96)
START_TIMEOUT_S = 150.0


@dataclass
class Scenario:
    name: str
    launch: Dict[str, str]
    params: Dict[str, object] = field(default_factory=dict)
    active: bool = False                 # expected to come up (with a warning) instead of failing
    names: Tuple[str, ...] = ('model',)  # a parameter the message must name (any of these)
    words: Tuple[str, ...] = ()          # the message must also contain one of these (case-insensitive)


def _tiny_onnx(path: Path, channels: int = 3) -> Path:
    """A hand-made ONNX pose graph with our metadata (one strided convolution: image -> 17 heatmaps).

    channels=3 is a valid single-instance model that loads and warms up in milliseconds (enough to
    exercise provider selection); channels=1 is a well-formed file whose image input does not
    take the 3-channel crops the pipeline feeds.
    """
    import json

    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    h, w = INPUT_SIZE
    weight = numpy_helper.from_array(np.full((17, channels, 4, 4), 0.01, np.float32), 'w')
    graph = helper.make_graph(
        [helper.make_node('Conv', ['image', 'w'], ['heatmaps'], strides=[4, 4], kernel_shape=[4, 4])],
        'tiny_pose',
        [helper.make_tensor_value_info('image', TensorProto.FLOAT, ['batch', channels, h, w]),
         helper.make_tensor_value_info('instance', TensorProto.INT64, ['batch'])],
        [helper.make_tensor_value_info('heatmaps', TensorProto.FLOAT, ['batch', 17, h // 4, w // 4])],
        [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', 17)])
    model.ir_version = 8
    spec = {'arch': 'hrnet_w16s', 'instances': 1, 'num_joints': 17, 'input_size': list(INPUT_SIZE)}
    for key, value in (('mipnet.spec', json.dumps(spec)), ('mipnet.layout', 'per_instance')):
        model.metadata_props.append(onnx.StringStringEntryProto(key=key, value=value))
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def _models(tmp: Path) -> Dict[str, Path]:
    import torch
    good = write_untrained_checkpoint(tmp / 'good.pth', input_size=INPUT_SIZE)
    data = good.read_bytes()
    truncated = tmp / 'truncated.pth'
    truncated.write_bytes(data[:len(data) // 2])
    # Our format with a spec that lies: hrnet_w16s weights labelled hrnet_w32.
    obj = torch.load(str(good), map_location='cpu', weights_only=True)
    obj['spec'] = dict(obj['spec'], arch='hrnet_w32')
    wrong_arch = tmp / 'wrong_arch.pth'
    torch.save(obj, str(wrong_arch))
    onnx_good = _tiny_onnx(tmp / 'good.onnx')
    blocker = tmp / 'a_file'
    blocker.write_text('not a directory')
    return {'good': good, 'truncated': truncated, 'wrong_arch': wrong_arch, 'onnx_good': onnx_good,
            'onnx_wrong_input': _tiny_onnx(tmp / 'wrong_input.onnx', channels=1),
            'missing': tmp / 'does_not_exist' / 'model.pth', 'unwritable_dir': blocker / 'trt_cache'}


def _scenarios(m: Dict[str, Path]):
    trt = 'TensorrtExecutionProvider,CPUExecutionProvider'
    out = [
        Scenario('missing_model', {'model': str(m['missing'])}, words=(str(m['missing']),)),
        Scenario('truncated_model', {'model': str(m['truncated'])}, words=('truncated', 'corrupt')),
        Scenario('wrong_arch_model', {'model': str(m['wrong_arch'])}, words=('hrnet_w32', 'arch')),
        Scenario('onnx_wrong_input', {'model': str(m['onnx_wrong_input']), 'backend': 'onnxruntime'},
                 words=('input', 'shape', 'channel')),
        Scenario('provider_fallback', {'model': str(m['onnx_good']), 'backend': 'onnxruntime'},
                 {'providers': trt}, active=True, names=('TensorrtExecutionProvider',)),
        Scenario('provider_no_fallback', {'model': str(m['onnx_good']), 'backend': 'onnxruntime'},
                 {'providers': trt, 'allow_fallback': False}, names=('providers', 'allow_fallback'),
                 words=('TensorrtExecutionProvider',)),
        Scenario('trt_cache_unwritable', {'model': str(m['onnx_good']), 'backend': 'onnxruntime'},
                 {'providers': trt, 'trt_cache_dir': str(m['unwritable_dir'])}, names=('trt_cache_dir',),
                 words=(str(m['unwritable_dir']),)),
    ]
    import torch
    if not torch.cuda.is_available():
        out += [
            Scenario('cuda_fallback', {'model': str(m['good']), 'device': 'cuda:0'}, active=True,
                     names=('cuda',)),
            Scenario('cuda_no_fallback', {'model': str(m['good']), 'device': 'cuda:0'}, {'allow_fallback': False},
                     names=('device', 'allow_fallback'), words=('cuda',)),
        ]
    return out


class StateProbe:
    def __init__(self, domain: int):
        from rclpy.executors import SingleThreadedExecutor
        self.ctx = rclpy.Context()
        rclpy.init(context=self.ctx, domain_id=domain)
        self.node = rclpy.create_node('startup_probe', context=self.ctx)
        self.executor = SingleThreadedExecutor(context=self.ctx)
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        self.thread.start()
        self.clients = {}

    def state(self, ns: str, name: str, timeout: float = 2.0) -> Optional[str]:
        """The node's lifecycle state label, or None while it does not answer (still starting)."""
        from lifecycle_msgs.srv import GetState
        key = (ns, name)
        if key not in self.clients:
            self.clients[key] = self.node.create_client(GetState, f'/{ns}/{name}/get_state')
        client = self.clients[key]
        if not client.service_is_ready():
            return None
        fut = client.call_async(GetState.Request())
        deadline = time.time() + timeout
        while not fut.done() and time.time() < deadline:
            time.sleep(0.02)
        return fut.result().current_state.label if fut.done() and fut.result() is not None else None

    def close(self):
        self.executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.ctx)


@pytest.fixture(scope='module')
def startups(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('startup')
    scenarios = _scenarios(_models(tmp))
    domain = domain_id_for(__file__)
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain))
    launchers = {}
    probe = StateProbe(domain)
    results = {}
    try:
        for s in scenarios:
            params = write_params_file(tmp / f'{s.name}.yaml', dict(s.params))
            launchers[s.name] = NodeLauncher(dict(s.launch, params_file=str(params), namespace=s.name,
                                                  node_name='mipnet_node', log_level='info'),
                                             env=env, log_path=tmp / f'{s.name}.log').start()
        pending = {s.name for s in scenarios}
        deadline = time.time() + START_TIMEOUT_S
        while pending and time.time() < deadline:
            for name in sorted(pending):
                launcher = launchers[name]
                state = probe.state(name, 'mipnet_node')
                if state is not None and state not in ('configuring', 'activating'):
                    results[name] = {'state': state, 'alive': True}
                    pending.discard(name)
                elif not launcher.alive():
                    results[name] = {'state': None, 'alive': False, 'exit': launcher.proc.returncode}
                    pending.discard(name)
            time.sleep(0.3)
        for name in pending:
            results[name] = {'state': 'timeout', 'alive': launchers[name].alive()}
        time.sleep(0.5)   # let the last log lines reach the files
        yield {s.name: (s, results[s.name], launchers[s.name]) for s in scenarios}
    finally:
        probe.close()
        for launcher in launchers.values():
            launcher.stop()
        subprocess.run(['ros2', 'daemon', 'stop'], env=env, capture_output=True, timeout=30)


SCENARIO_NAMES = ['missing_model', 'truncated_model', 'wrong_arch_model', 'onnx_wrong_input', 'provider_fallback',
                  'provider_no_fallback', 'trt_cache_unwritable', 'cuda_fallback', 'cuda_no_fallback']


def _lines(text: str, level: str):
    return [line for line in text.splitlines() if f'[{level}]' in line]


@pytest.mark.parametrize('name', SCENARIO_NAMES)
def test_startup_fault(startups, name):
    if name not in startups:
        pytest.skip('CUDA is available here: the no-CUDA fallback cannot be provoked')
    scenario, result, launcher = startups[name]
    log = launcher.log_text()
    assert result['state'] != 'timeout', f'{name}: the node neither came up nor failed:\n{log[-3000:]}'
    assert 'Traceback' not in log, f'{name}: a traceback reached the log:\n{log[-4000:]}'
    if scenario.active:
        assert result['state'] == 'active', f'{name}: expected to fall back and run, got {result}:\n{log[-3000:]}'
        warnings = _lines(log, 'WARN')
        assert any(any(n.lower() in line.lower() for n in scenario.names) for line in warnings), \
            f'{name}: no ROS warning naming {scenario.names}:\n{log[-3000:]}'
        return
    # A failure: not active (or a non-zero exit), with an ERROR line naming the parameter to fix.
    if result['alive']:
        assert result['state'] in ('unconfigured', 'inactive', 'finalized'), f'{name}: {result}'
    else:
        assert result.get('exit') not in (0, None), f'{name}: exited with code 0:\n{log[-3000:]}'
    errors = _lines(log, 'ERROR') + _lines(log, 'FATAL')
    assert errors, f'{name}: no ERROR line:\n{log[-3000:]}'
    quoted = [re.compile(rf"'{re.escape(n)}'|\b{re.escape(n)}:=") for n in scenario.names]
    named = [line for line in errors if any(q.search(line) for q in quoted)]
    assert named, f"{name}: no ERROR line names the parameter ({' or '.join(repr(n) for n in scenario.names)}):\n" \
                  + '\n'.join(errors)
    if scenario.words:
        assert any(any(w.lower() in line.lower() for w in scenario.words) for line in named), \
            f'{name}: the ERROR naming the parameter does not say what is wrong ({scenario.words}):\n' \
            + '\n'.join(named)
