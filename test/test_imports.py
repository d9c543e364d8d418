"""The core is ROS-free: a notebook without ROS can import it and build the estimator API."""
import ast
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import mipnet_ros

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / 'mipnet_ros' / 'core'
ROS_MODULES = ('rclpy', 'sensor_msgs', 'vision_msgs', 'std_msgs', 'mipnet_msgs', 'visualization_msgs',
               'diagnostic_msgs', 'lifecycle_msgs', 'launch', 'launch_ros', 'ament_index_python',
               'message_filters', 'diagnostic_updater', 'builtin_interfaces')


def _top_level_imports(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        # Only module-level and class/function-level unconditional imports matter; guarded
        # imports inside try blocks are allowed (e.g. optional ament_index lookup).
        if isinstance(node, ast.Import):
            names.update(a.name.split('.')[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split('.')[0])
    return names, tree


def _guarded(tree):
    guarded = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Import):
                    guarded.update(a.name.split('.')[0] for a in inner.names)
                elif isinstance(inner, ast.ImportFrom) and inner.module:
                    guarded.add(inner.module.split('.')[0])
    return guarded


def test_core_sources_import_no_ros():
    files = sorted(CORE.rglob('*.py'))
    assert len(files) > 5, 'the core package looks empty'
    offenders = []
    for f in files:
        names, tree = _top_level_imports(f)
        bad = (names - _guarded(tree)) & set(ROS_MODULES)
        if bad:
            offenders.append(f'{f.relative_to(ROOT)}: {sorted(bad)}')
    assert not offenders, 'core modules import ROS: ' + '; '.join(offenders)


BLOCK_ROS = '''
import importlib, pkgutil, sys
BLOCKED = %r
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in BLOCKED:
            raise ImportError('ROS is blocked in this test: ' + name)
sys.meta_path.insert(0, Block())
import mipnet_ros, mipnet_ros.core
names = [m.name for m in pkgutil.walk_packages(mipnet_ros.core.__path__, 'mipnet_ros.core.')]
for name in names:
    importlib.import_module(name)
from mipnet_ros import PoseEstimator, Person, ModelSpec, build_model
from mipnet_ros.cli import main
assert main(['--help']) == 0
print('imported', len(names), 'core modules without ROS')
''' % (ROS_MODULES,)


def test_every_core_module_imports_with_ros_blocked():
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get('PYTHONPATH', ''))
    out = subprocess.run([sys.executable, '-c', BLOCK_ROS], capture_output=True, text=True, env=env,
                         cwd=str(ROOT), timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    count = int(out.stdout.split('imported ')[1].split()[0])
    assert count >= 8, out.stdout


def test_cli_help_lists_every_job():
    out = subprocess.run([sys.executable, '-m', 'mipnet_ros', '--help'], capture_output=True, text=True,
                         cwd=str(ROOT), timeout=60)
    assert out.returncode == 0
    for job in ('train', 'eval', 'export', 'bench', 'demo'):
        assert job in out.stdout
    assert mipnet_ros.__version__
    assert not any(m.name == 'ros' for m in pkgutil.iter_modules(
        [str(CORE)])), 'core must not contain the ROS layer'
