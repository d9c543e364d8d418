"""Start the node the way a user does (`ros2 launch mipnet_ros mipnet.launch.py ...`) as a child process.

The demo, the soak benchmark and the functional tests all start the node through `NodeLauncher`,
so they exercise the same launch file. The launch runs in its own process group so that, when
SIGINT is not enough, the whole group can be ended without touching anything else.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Dict, Optional


class NodeLauncher:
    """`ros2 launch mipnet_ros mipnet.launch.py key:=value ...` as a child process, stopped with SIGINT.

    The launch runs in its own process group so that, if SIGINT is not enough, the whole group
    (launch + node) can be terminated without touching anything else.
    """

    def __init__(self, launch_args: Optional[Dict[str, str]] = None, env: Optional[Dict[str, str]] = None,
                 log_path: Optional[Path] = None, package: str = 'mipnet_ros',
                 launch_file: str = 'mipnet.launch.py'):
        self.cmd = ['ros2', 'launch', package, launch_file] + [f'{k}:={v}' for k, v in (launch_args or {}).items()]
        self.env = dict(os.environ if env is None else env)
        self.env.setdefault('PYTHONUNBUFFERED', '1')
        self.env.setdefault('RCUTILS_LOGGING_BUFFERED_STREAM', '0')
        self.log_path = log_path
        self.proc: Optional[subprocess.Popen] = None
        self._log = None

    def start(self) -> 'NodeLauncher':
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = open(self.log_path, 'wb')
        self.proc = subprocess.Popen(self.cmd, env=self.env, stdout=self._log or subprocess.DEVNULL,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 20.0) -> Optional[int]:
        """SIGINT the launch (it forwards it to the node), then escalate on the process group."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                for sig in (signal.SIGTERM, signal.SIGKILL):
                    try:
                        os.killpg(self.proc.pid, sig)
                    except ProcessLookupError:
                        break
                    try:
                        self.proc.wait(timeout=5)
                        break
                    except subprocess.TimeoutExpired:
                        continue
        try:   # the node may still be finishing after the launch itself exited
            os.killpg(self.proc.pid, 0)
            deadline = time.time() + 5
            while time.time() < deadline:
                time.sleep(0.1)
                os.killpg(self.proc.pid, 0)
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if self._log is not None:
            self._log.close()
            self._log = None
        return self.proc.returncode

    def log_text(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ''
        return self.log_path.read_text(errors='replace')

    def __enter__(self) -> 'NodeLauncher':
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def domain_id_for(name: str) -> int:
    """A ROS_DOMAIN_ID in 100..199 from a name and this process id, so parallel runs do not meet."""
    import zlib
    return 100 + (zlib.crc32(name.encode()) + os.getpid()) % 100


def config_path() -> Path:
    """The installed node parameters, share/mipnet_ros/config/mipnet.yaml."""
    from ament_index_python.packages import get_package_share_directory
    return Path(get_package_share_directory('mipnet_ros')) / 'config' / 'mipnet.yaml'


def write_params_file(path: Path, overrides: Dict[str, object]) -> Path:
    """config/mipnet.yaml with `overrides` (ROS parameter names, dots for groups) applied, as a new file."""
    import yaml
    doc = yaml.safe_load(config_path().read_text())
    params = doc['/**']['ros__parameters']
    for name, value in overrides.items():
        node = params
        *groups, leaf = name.split('.')
        for g in groups:
            node = node.setdefault(g, {})
        node[leaf] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path
