"""The architecture holds: no import cycle, the library imports no ROS, no layer reaches upwards.

The graph is read from the sources (every import, lazy ones and importlib/__import__ with a string
included); a planted violation in a scratch copy of a package shows that the check can fail.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest

import mipnet_ros
from mipnet_ros.testing import layering

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / 'mipnet_ros'


@pytest.fixture(scope='module')
def graph():
    return layering.build_graph(PACKAGE)


def test_the_package_has_its_layers(graph):
    layers = {layering.layer_of(m) for m in graph.modules}
    assert {'core', 'synth', 'ros', 'tools', 'testing', 'top'} <= layers
    assert len([m for m in graph.modules if layering.layer_of(m) == 'core']) > 20


def test_no_import_cycles(graph):
    assert layering.cycles(graph) == []


def test_no_layer_imports_upwards_and_the_library_imports_no_ros(graph):
    assert layering.layering_violations(graph) == []


def _write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.mark.parametrize('planted, expected', [
    ("import importlib\nimportlib.import_module('mipnet_ros.ros.pose_node')\n",
     'mipnet_ros.core.a -> mipnet_ros.ros.pose_node'),
    ("def f():\n    __import__('mipnet_ros.tools.bench')\n", 'mipnet_ros.core.a -> mipnet_ros.tools.bench'),
    ("def f():\n    from mipnet_ros.ros import pose_node\n", 'mipnet_ros.core.a -> mipnet_ros.ros.pose_node'),
    ("try:\n    import rclpy\nexcept ImportError:\n    pass\n", 'mipnet_ros.core.a -> rclpy (ROS)'),
    ("from mipnet_ros.msg import PersonKeypoints\n", 'mipnet_ros.core.a -> mipnet_ros.msg'),
])
def test_a_planted_violation_is_caught(tmp_path, planted, expected):
    pkg = tmp_path / 'mipnet_ros'
    for rel in ('__init__.py', 'core/__init__.py', 'ros/__init__.py', 'ros/pose_node.py', 'tools/__init__.py',
                'tools/bench.py'):
        _write(pkg, rel, '')
    _write(pkg, 'core/a.py', planted)
    assert expected in layering.layering_violations(layering.build_graph(pkg))


def test_a_planted_cycle_is_caught(tmp_path):
    pkg = tmp_path / 'mipnet_ros'
    _write(pkg, '__init__.py', '')
    _write(pkg, 'core/__init__.py', '')
    _write(pkg, 'core/a.py', 'from mipnet_ros.core import b\n')
    _write(pkg, 'core/b.py', 'def f():\n    from . import c\n')
    _write(pkg, 'core/c.py', "import importlib\nimportlib.import_module('mipnet_ros.core.a')\n")
    assert layering.cycles(layering.build_graph(pkg)) == [('mipnet_ros.core.a', 'mipnet_ros.core.b',
                                                           'mipnet_ros.core.c')]


BLOCK_ROS = '''
import importlib, pkgutil, sys
BLOCKED = %r
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in BLOCKED or name.startswith('mipnet_ros.msg'):
            raise ImportError('ROS is blocked in this test: ' + name)
sys.meta_path.insert(0, Block())
import mipnet_ros, mipnet_ros.core, mipnet_ros.synth
names = [m.name for p in (mipnet_ros.core, mipnet_ros.synth)
         for m in pkgutil.walk_packages(p.__path__, p.__name__ + '.')]
for name in names:
    importlib.import_module(name)
from mipnet_ros import PoseEstimator, Person, ModelSpec, build_model
from mipnet_ros.cli import main
assert main(['--help']) == 0
print('imported', len(names), 'library modules without ROS')
''' % (tuple(sorted(layering.ROS_MODULES)),)


def test_every_library_module_imports_with_ros_blocked():
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get('PYTHONPATH', ''))
    out = subprocess.run([sys.executable, '-c', BLOCK_ROS], capture_output=True, text=True, env=env,
                         cwd=str(ROOT), timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    count = int(out.stdout.split('imported ')[1].split()[0])
    assert count >= 20, out.stdout


def test_cli_help_lists_every_job():
    out = subprocess.run([sys.executable, '-m', 'mipnet_ros', '--help'], capture_output=True, text=True,
                         cwd=str(ROOT), timeout=60)
    assert out.returncode == 0
    for job in ('train', 'eval', 'export', 'bench', 'demo', 'synth', 'report', 'replay', 'soak', 'check'):
        assert job in out.stdout
    assert mipnet_ros.__version__
