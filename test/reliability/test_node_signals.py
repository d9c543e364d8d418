"""Stopping a launched node: Ctrl-C in a terminal (twice, under traffic), SIGINT to the node, SIGTERM to launch.

A terminal's Ctrl-C signals the whole foreground process group (launch and node), and launch then
forwards its own SIGINT: the node must end cleanly (launch reports 'finished cleanly', no traceback,
no abort, no ERROR). SIGTERM to `ros2 launch` alone must not leave the node running as an orphan.
"""
import os
import signal
import threading
import time

import numpy as np
import pytest

rclpy = pytest.importorskip('rclpy')

from mipnet_ros.core.model.untrained import write_untrained_checkpoint  # noqa: E402
from mipnet_ros.offline.launcher import NodeLauncher, domain_id_for, write_params_file  # noqa: E402
from mipnet_ros.tools.node_memory import Driver, image_msg, random_boxes_msg, wait_gone  # noqa: E402
from mipnet_ros.tools.proc import child_pids  # noqa: E402

BAD_LINES = ('Traceback', 'terminate called', 'KeyboardInterrupt', '[ERROR]', 'exit code -', 'InvalidHandle')


def _gone(pid, timeout):
    return wait_gone(pid, timeout) is not None


class Traffic(Driver):
    """640x480 bgr8 frames with 5 person boxes at about 20 Hz, until closed."""

    def __init__(self, domain):
        super().__init__(domain)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @property
    def outputs(self):
        return len(self.keypoints)

    def _run(self):
        data = np.random.default_rng(0).integers(0, 255, 480 * 640 * 3, dtype=np.uint8).tobytes()
        while not self._stop.wait(0.05):
            stamp = time.time_ns()
            try:
                self.img.publish(image_msg(stamp, 480, 640, data))
                self.det.publish(random_boxes_msg(stamp, 5, 480, 640))
            except Exception:  # noqa: BLE001 - the context is going away at the end of the test
                return

    def close(self):
        self._stop.set()
        self._thread.join(2)
        super().close()


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('signals')
    model = write_untrained_checkpoint(tmp / 'random.pth')
    params = write_params_file(tmp / 'params.yaml', {'model': str(model), 'warmup': False,
                                                     'qos.image.reliability': 'reliable', 'max_boxes': 5})
    return tmp, params


def _launch(setup, name):
    tmp, params = setup
    domain = domain_id_for(__file__ + name)
    env = dict(os.environ, ROS_DOMAIN_ID=str(domain), ROS_LOG_DIR=str(tmp / f'{name}_ros_log'))
    launcher = NodeLauncher({'params_file': str(params)}, env=env, log_path=tmp / f'{name}.log').start()
    deadline = time.time() + 60
    node_pid = None
    while time.time() < deadline and 'active: waiting' not in launcher.log_text():
        time.sleep(0.1)
    kids = child_pids(launcher.proc.pid)
    node_pid = kids[0] if kids else None
    assert node_pid is not None and 'active: waiting' in launcher.log_text(), launcher.log_text()[-3000:]
    return launcher, node_pid, domain


def _assert_clean(log):
    bad = [line for line in log.splitlines() if any(b in line for b in BAD_LINES)]
    assert not bad, 'unclean shutdown:\n' + '\n'.join(bad) + '\n--- log ---\n' + log[-3000:]


def test_terminal_ctrl_c_twice_under_traffic(setup):
    launcher, node_pid, domain = _launch(setup, 'ctrl_c')
    traffic = Traffic(domain)
    try:
        deadline = time.time() + 60
        while traffic.outputs < 3 and time.time() < deadline:
            time.sleep(0.05)
        assert traffic.outputs >= 3, 'the node never answered the traffic:\n' + launcher.log_text()[-3000:]
        pgid = os.getpgid(launcher.proc.pid)
        os.killpg(pgid, signal.SIGINT)           # Ctrl-C: launch and node together
        time.sleep(0.1)
        os.killpg(pgid, signal.SIGINT)           # impatient second Ctrl-C
        assert _gone(node_pid, 15), 'the node did not stop'
        rc = launcher.proc.wait(timeout=15)
    finally:
        traffic.close()
        launcher.stop()
    log = launcher.log_text()
    _assert_clean(log)
    assert f'finished cleanly [pid {node_pid}]' in log, log[-3000:]
    assert rc in (0, -signal.SIGINT)     # launch itself may take the second Ctrl-C while it exits


def test_sigint_to_the_node_alone(setup):
    launcher, node_pid, _ = _launch(setup, 'sigint_node')
    try:
        os.kill(node_pid, signal.SIGINT)
        assert _gone(node_pid, 15), 'the node did not stop'
        deadline = time.time() + 10
        while f'[pid {node_pid}]' not in launcher.log_text() and time.time() < deadline:
            time.sleep(0.05)
    finally:
        launcher.stop()
    log = launcher.log_text()
    _assert_clean(log)
    assert f'finished cleanly [pid {node_pid}]' in log, log[-3000:]


def test_sigterm_to_launch_leaves_no_orphan(setup):
    launcher, node_pid, _ = _launch(setup, 'sigterm_launch')
    try:
        os.kill(launcher.proc.pid, signal.SIGTERM)
        launcher.proc.wait(timeout=15)
        assert _gone(node_pid, 15), 'the node outlived its launch'
    finally:
        launcher.stop()
    _assert_clean(launcher.log_text())
    # the launch is gone, so the node's own log file tells how it ended: a clean stop, not a kill
    node_logs = list((setup[0] / 'sigterm_launch_ros_log').glob(f'*_{node_pid}_*.log'))
    assert node_logs, 'no log file of the node'
    text = node_logs[0].read_text()
    _assert_clean(text)
    assert 'stopping (SIGTERM)' in text or 'stopping (parent exited)' in text, text[-2000:]
