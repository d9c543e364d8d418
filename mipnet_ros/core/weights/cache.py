"""Where downloaded weights live: one per-user cache directory, shared by the CLI, the library and the node.

MIPNET_CACHE (or the older MIPNET_ROS_CACHE) moves the whole cache; otherwise it follows the XDG
base directory convention ($XDG_CACHE_HOME/mipnet_ros, default ~/.cache/mipnet_ros).
"""
import os
from pathlib import Path

PACKAGE = 'mipnet_ros'
ENV_VARS = ('MIPNET_CACHE', 'MIPNET_ROS_CACHE')


def cache_root() -> Path:
    for var in ENV_VARS:
        if os.environ.get(var):
            return Path(os.environ[var]).expanduser()
    base = os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
    return Path(base) / PACKAGE


def weights_dir() -> Path:
    """Finished, verified files only; downloads in progress are kept in partial_dir()."""
    return cache_root() / 'weights'


def partial_dir() -> Path:
    """Interrupted downloads, kept so that the next attempt resumes instead of starting over."""
    return cache_root() / 'partial'
