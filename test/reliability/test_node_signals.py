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
from rclpy.executors import SingleThreadedExecutor  # noqa: E402

from mipnet_ros.ros.demo import NodeLauncher, domain_id_for, make_random_model, write_params_file  # noqa: E402
from mipnet_ros.ros.params import qos_profile  # noqa: E402

BAD_LINES = ('Traceback', 'terminate called', 'KeyboardInterrupt', '[ERROR]', 'exit code -', 'InvalidHandle')


def _children(pid):
    kids = []
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            try:
                with open(f'/proc/{entry}/stat') as f:
                    fields = f.read().rsplit(')', 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                kids.append(int(entry))
    return kids


def _gone(pid, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with open(f'/proc/{pid}/stat') as f:
                if f.read().rsplit(')', 1)[1].split()[0] == 'Z':
                    return True
        except OSError:
            return True
        time.sleep(0.02)
    return False


class Traffic:
    """640x480 bgr8 frames with 5 person boxes at about 20 Hz, until stopped."""

    def __init__(self, domain):
        from sensor_msgs.msg import Image
        from vision_msgs.msg import Detection2DArray
        from mipnet_msgs.msg import PersonKeypointsArray
        self.ctx = rclpy.Context()
        rclpy.init(context=self.ctx, domain_id=domain)
        self.node = rclpy.create_node('signal_traffic', context=self.ctx)
        self.img = self.node.create_publisher(Image, '/image', qos_profile('reliable', 5))
        self.det = self.node.create_publisher(Detection2DArray, '/detections', qos_profile('reliable', 10))
        self.outputs = 0
        self.node.create_subscription(PersonKeypointsArray, '/keypoints', self._count, qos_profile('reliable', 10))
        self.executor = SingleThreadedExecutor(context=self.ctx)
        self.executor.add_node(self.node)
        threading.Thread(target=self.executor.spin, daemon=True).start()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _count(self, _msg):
        self.outputs += 1

    def _run(self):
        from sensor_msgs.msg import Image
        from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose
        data = np.random.default_rng(0).integers(0, 255, 480 * 640 * 3, dtype=np.uint8).tobytes()
        while not self._stop.wait(0.05):
            stamp = time.time_ns()
            img = Image(height=480, width=640, encoding='bgr8', step=640 * 3)
            img.data = data
            dets = Detection2DArray()
            for m in (img, dets):
                m.header.stamp.sec, m.header.stamp.nanosec = stamp // 10**9, stamp % 10**9
                m.header.frame_id = 'cam'
            for i in range(5):
                d = Detection2D(id=str(i))
                d.bbox.center.position.x, d.bbox.center.position.y = 60.0 + 120 * i, 240.0
                d.bbox.size_x, d.bbox.size_y = 100.0, 300.0
                h = ObjectHypothesisWithPose()
                h.hypothesis.class_id, h.hypothesis.score = 'person', 0.9
                d.results.append(h)
                dets.detections.append(d)
            try:
                self.img.publish(img)
                self.det.publish(dets)
            except Exception:  # noqa: BLE001 - the context is going away at the end of the test
                return

    def close(self):
        self._stop.set()
        self._thread.join(2)
        self.executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.ctx)


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('signals')
    model = make_random_model(tmp / 'random.pth')
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
    kids = _children(launcher.proc.pid)
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
    assert rc == 0


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
