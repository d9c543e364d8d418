"""A failed rclpy callback task left by one test module prints nothing into another module's test.

Runs an inner pytest over two modules with this suite's conftest: the first leaves a failed task in a
reference cycle (as a node destroyed under a spinning executor does), the second checks its own stderr
after a garbage collection.
"""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip('rclpy')
CONFTEST = Path(__file__).resolve().parents[1] / 'conftest.py'

LEAVER = '''
import gc
import threading
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.task import Future

DOMAIN = 201


def test_leaves_a_failed_task_and_a_spinning_executor():
    gc.disable()                      # as if the collector did not run before the module ended
    f = Future()
    f.set_exception(RuntimeError('cannot use Destroyable because destruction was requested'))
    f.cycle = f                       # only the cycle collector can free it
    ctx = rclpy.Context()
    rclpy.init(context=ctx, domain_id=DOMAIN)     # no node: the domain only has to be valid
    ex = SingleThreadedExecutor(context=ctx)
    threading.Thread(target=ex.spin, daemon=True).start()
'''
VICTIM = '''
import gc


def test_sees_a_clean_stderr(capsys):
    gc.enable()
    gc.collect()
    assert 'never retrieved' not in capsys.readouterr().err
'''


def _run(tmp_path, with_conftest: bool):
    shutil.rmtree(tmp_path, ignore_errors=True)
    tmp_path.mkdir(parents=True)
    (tmp_path / 'test_a_leaver.py').write_text(LEAVER)
    (tmp_path / 'test_b_victim.py').write_text(VICTIM)
    if with_conftest:
        shutil.copy(CONFTEST, tmp_path / 'conftest.py')
    return subprocess.run([sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider', str(tmp_path)],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)


def test_leftover_tasks_are_collected_with_their_module(tmp_path):
    isolated = _run(tmp_path / 'isolated', with_conftest=True)
    assert isolated.returncode == 0, isolated.stdout[-3000:]
    bare = _run(tmp_path / 'bare', with_conftest=False)   # the same modules without the fixture leak
    assert bare.returncode == 1 and 'never retrieved' in bare.stdout, bare.stdout[-3000:]
