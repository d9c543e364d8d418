"""Where the package's installed data lives (models, node config, demo bag), found without ROS.

Looked up in order: $MIPNET_SHARE, every prefix of $AMENT_PREFIX_PATH (a colcon install or a
sourced workspace), then `sys.prefix` (a `pip install .`). The library never reads the source
checkout: a checkout is used only through what `colcon build` installed from it.
"""
import os
import sys
from pathlib import Path
from typing import List, Optional

PACKAGE = 'mipnet_ros'
BUNDLED_MODEL = 'mipnet_w16s_n2'           # models/<name>.pth, .onnx, .int8.onnx
BUNDLED_SUFFIXES = ('.pth', '.onnx')       # preference order


def share_dirs() -> List[Path]:
    """Candidate share/mipnet_ros directories that exist, in lookup order."""
    candidates = []
    if os.environ.get('MIPNET_SHARE'):
        candidates.append(Path(os.environ['MIPNET_SHARE']))
    for prefix in os.environ.get('AMENT_PREFIX_PATH', '').split(os.pathsep):
        if prefix:
            candidates.append(Path(prefix) / 'share' / PACKAGE)
    candidates.append(Path(sys.prefix) / 'share' / PACKAGE)
    seen, out = set(), []
    for c in candidates:
        if c.is_dir() and c.resolve() not in seen:
            seen.add(c.resolve())
            out.append(c)
    return out


def share_file(relative: str) -> Optional[Path]:
    """The first installed copy of share/mipnet_ros/<relative>, or None."""
    for d in share_dirs():
        if (d / relative).exists():
            return d / relative
    return None


def bundled_model_path(suffixes=BUNDLED_SUFFIXES) -> Path:
    """The bundled demo model (first of `suffixes` found); FileNotFoundError says where it looked."""
    for suffix in suffixes:
        found = share_file(f'models/{BUNDLED_MODEL}{suffix}')
        if found is not None:
            return found
    looked = ', '.join(str(d / 'models') for d in share_dirs()) or 'no share/mipnet_ros directory'
    raise FileNotFoundError(
        f'the bundled model {BUNDLED_MODEL}{suffixes[0]} is not installed (looked in: {looked}); build and source '
        f'the workspace (colcon build; source install/setup.bash), set MIPNET_SHARE, or pass model=PATH')
