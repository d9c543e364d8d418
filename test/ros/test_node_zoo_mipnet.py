"""The launched node takes `model:=mipnet_w48_coco_384x288` like the other zoo names.

The official MIPNet file is put in a scratch cache by hand (an official-code HRNet-W48 state dict with
the λ gates, written as stride-0 views: a small file with every key and shape of the real one). The node
checks it, records its sha256, converts it, and configures as HRNet-W48 with N=2 at 384x288.
"""
import os
import time

import pytest

pytest.importorskip('rclpy')
import _reference_models as ref_models  # noqa: E402
import torch  # noqa: E402

from mipnet_ros.offline.launcher import NodeLauncher, domain_id_for, write_params_file  # noqa: E402

NAME = 'mipnet_w48_coco_384x288'


def _official_w48(path):
    module = ref_models.reference_module('hrnet_se')
    with torch.device('meta'):
        net = module.get_pose_net(ref_models.reference_cfg('hrnet_w48'), is_train=False)
    torch.save({k: torch.zeros((), dtype=v.dtype).expand(v.shape) for k, v in net.state_dict().items()}, path)


def test_the_node_configures_on_the_official_mipnet_file_by_name(tmp_path):
    from mipnet_ros.core.weights.zoo import ZOO
    ref_models.require_reference()
    cache = tmp_path / 'cache'
    (cache / 'weights').mkdir(parents=True)
    _official_w48(cache / 'weights' / ZOO[NAME].file_name)
    params = write_params_file(tmp_path / 'params.yaml', {'warmup': False})
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain_id_for(__file__)), MIPNET_CACHE=str(cache))
    launcher = NodeLauncher({'params_file': str(params), 'model': NAME}, env=env,
                            log_path=tmp_path / 'launch.log').start()
    try:
        deadline = time.time() + 300          # converting writes the 250 MB checkpoint: slow on a busy machine
        while time.time() < deadline and launcher.alive() and 'active' not in launcher.log_text() \
                and '[ERROR]' not in launcher.log_text():
            time.sleep(0.5)
        log = launcher.log_text()
    finally:
        launcher.stop()
    assert 'configured: hrnet_w48 N=2 input (384, 288)' in log, log[-3000:]
    assert str(cache / 'weights' / f'{NAME}.pth') in log
    assert (cache / 'recorded' / f'{ZOO[NAME].file_name}.sha256').is_file()
