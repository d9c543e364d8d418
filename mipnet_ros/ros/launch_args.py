"""What a launch argument means: as a boolean (arguments are strings: 'true', '1', ...), and as a pose node parameter.

Used by every launch file, the cameras file and mipnet_multi_node.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Tuple

TRUE_WORDS = ('1', 'true', 'yes')


def is_true(value: str) -> bool:
    """A performed launch argument read as a boolean: '1', 'true' or 'yes' in any case, else false."""
    return str(value).strip().lower() in TRUE_WORDS


def true_expression(*configurations: Any) -> List[Any]:
    """PythonExpression parts that are True when any of the launch configurations is true (as is_true)."""
    parts: List[Any] = []
    for i, configuration in enumerate(configurations):
        parts += ([' or '] if i else []) + ["'", configuration, f"'.strip().lower() in {TRUE_WORDS!r}"]
    return parts


# mipnet.launch.py arguments that set a mipnet_node parameter: argument -> (parameter, value from the text);
# an empty argument keeps the params file's value
POSE_NODE_ARGS: Dict[str, Tuple[str, Callable[[str], Any]]] = {
    'model': ('model', str),
    'allow_download': ('allow_download', is_true),
    'arch': ('arch', str),
    'detections_type': ('detections_type', str),
    'backend': ('backend', str),
    'device': ('device', str),
    'autostart': ('autostart', is_true),
    'use_compressed': ('image_transport', lambda v: 'compressed' if is_true(v) else 'raw'),
    'image_reliability': ('qos.image.reliability', str),
    'detections_reliability': ('qos.detections.reliability', str),
}


def pose_node_overrides(args: Dict[str, str], names: Any = None) -> Dict[str, Any]:
    """{parameter: value} of the non-empty pose node arguments in `args` (only those in `names` when given)."""
    overrides = {}
    for arg, (param, conv) in POSE_NODE_ARGS.items():
        value = str(args.get(arg, '')).strip()
        if value and (names is None or arg in names):
            overrides[param] = conv(value)
    return overrides
