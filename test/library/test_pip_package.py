"""`pip install .` gives the ROS-free library, and it runs without the source checkout.

The wheel is built from the checkout, installed into a scratch prefix, and used from another
directory with the checkout off sys.path: the bundled model must come from the installed
share/mipnet_ros, never from the repository.
"""
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

USE = r'''
import sys
import numpy as np
import mipnet_ros
from mipnet_ros import PoseEstimator
assert str(ROOT) not in mipnet_ros.__file__, mipnet_ros.__file__
est = PoseEstimator(device='cpu', fp16=False, instance_threshold=0.0)
assert str(ROOT) not in est.model_path, est.model_path
people = est(np.full((200, 160, 3), 127, np.uint8), np.array([[20, 20, 120, 180]], np.float32))
print('people', len(people), 'model', est.model_path)
'''


@pytest.fixture(scope='module')
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp('wheel')
    proc = subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '-q',
                           '-w', str(out), str(ROOT)], capture_output=True, text=True, timeout=600, cwd=str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    (path,) = out.glob('mipnet_ros-*.whl')
    return path


def test_the_wheel_holds_the_library_and_its_data_but_no_tests(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert 'mipnet_ros/core/estimator.py' in names and 'mipnet_ros/cli.py' in names
    assert any(n.endswith('data/share/mipnet_ros/models/mipnet_w16s_n2.pth') for n in names)
    assert any(n.endswith('data/share/mipnet_ros/config/mipnet.yaml') for n in names)
    assert not any(n.startswith('test/') for n in names)


def test_installed_library_runs_outside_the_checkout(wheel, tmp_path):
    prefix = tmp_path / 'prefix'
    # --force-reinstall: the colcon install of the same package is on PYTHONPATH and pip would skip it
    proc = subprocess.run([sys.executable, '-m', 'pip', 'install', '--no-deps', '--force-reinstall', '-q',
                           '--prefix', str(prefix), str(wheel)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    site = next(prefix.glob('lib/python*/site-packages'))
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH', 'AMENT_PREFIX_PATH')}
    env.update(PYTHONPATH=str(site), MIPNET_SHARE=str(prefix / 'share' / 'mipnet_ros'))
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()
    proc = subprocess.run([sys.executable, '-c', f'ROOT = {str(ROOT)!r}\n' + USE], capture_output=True,
                          text=True, env=env, cwd=str(elsewhere), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    count = int(proc.stdout.split('people ')[1].split()[0])
    assert 1 <= count <= 2 and f'model {prefix}' in proc.stdout    # N=2: the box's person and maybe one more
