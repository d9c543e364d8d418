"""StopRequest in a real process: signals arrive while the main thread is stuck in native code."""
import os
import signal
import subprocess
import sys
import time

import pytest

SCRIPT = r'''
import ctypes, os, sys
from mipnet_ros.ros.shutdown import StopRequest, flush_and_exit
def expire():
    print('deadline', stop.reason, stop.signals, flush=True)
    flush_and_exit(0)
stop = StopRequest(float(sys.argv[1]), expire)
stop.install_signal_handlers()
if sys.argv[2] == 'parent':
    stop.watch_parent(0.05)
print('ready', flush=True)
if sys.argv[3] == 'native':
    ctypes.CDLL(None).pause()          # never returns: the signals are blocked in this thread
else:
    stop.event.wait(30)
    print('stopped', stop.reason, flush=True)
    stop.ignore_signals()
    stop.finished()
'''


def _start(*args):
    p = subprocess.Popen([sys.executable, '-c', SCRIPT, *args], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == 'ready'
    return p


def test_signals_while_main_thread_is_in_native_code_end_at_the_deadline():
    p = _start('0.5', 'no', 'native')
    for _ in range(3):                              # Ctrl-C, the forwarded SIGINT, and one more
        p.send_signal(signal.SIGINT)
        time.sleep(0.05)
    out, _ = p.communicate(timeout=20)
    assert p.returncode == 0
    assert out.split() == ['deadline', 'SIGINT', '3']


def test_sigterm_then_sigint_is_a_normal_stop_and_late_signals_are_ignored():
    p = _start('30', 'no', 'python')
    p.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    p.send_signal(signal.SIGINT)
    out, _ = p.communicate(timeout=20)
    assert p.returncode == 0 and out.strip() == 'stopped SIGTERM'


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='/proc and PR_SET_PDEATHSIG are Linux')
def test_parent_death_is_a_stop_request(tmp_path):
    # a shell parent starts the child in the background and exits once the child watches it
    out = tmp_path / 'out.txt'
    cmd = (f'{sys.executable} -c "$0" 30 parent python > {out} 2>&1 & echo $!; '
           f'while ! grep -q ready {out}; do sleep 0.05; done')
    pid = int(subprocess.run(['sh', '-c', cmd, SCRIPT], capture_output=True, text=True, timeout=20).stdout)
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        os.kill(pid, signal.SIGKILL)
        pytest.fail('the orphan kept running')
    lines = out.read_text().splitlines()
    assert lines[0] == 'ready' and lines[1] in ('stopped SIGTERM', 'stopped parent exited'), lines
