"""rclpy.init for the package's executables, with one ERROR line instead of a traceback when ROS cannot start.

rcl reads every `--params-file` before any node exists, so a file it refuses never reaches the parameter
checks of ros/params.py: its RCLError would end the process with a traceback. The most common refusal is
a list that mixes types (`person_class_ids: [0, 'person']`: ROS parameters are typed arrays); that is
found here first, with the file, the parameter and the fix. Anything else rcl refuses (YAML syntax,
a bad remap) gets its own message on the one line.
"""
from __future__ import annotations

import sys
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

PARAMS_FILE_FLAG = '--params-file'
START_FAILED_EXIT = 1
# YAML scalar types as rcl names them (bool before int: a bool is an int in Python)
_TYPE_NAMES = ((bool, 'bool'), (int, 'integer'), (float, 'double'), (str, 'string'))


def params_files(argv: Sequence[str]) -> List[str]:
    """The paths given after --params-file in a command line."""
    return [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == PARAMS_FILE_FLAG]


def _type_name(value: Any) -> str:
    for ty, name in _TYPE_NAMES:
        if isinstance(value, ty):
            return name
    return type(value).__name__


def _parameters(block: Dict[str, Any], prefix: str = '') -> Iterator[Tuple[str, Any]]:
    """(dotted name, value) of a ros__parameters block; nested maps are dotted names."""
    for key, value in block.items():
        name = f'{prefix}{key}'
        if isinstance(value, dict):
            yield from _parameters(value, name + '.')
        else:
            yield name, value


def _ros_parameter_blocks(doc: Any, path: str = '') -> Iterator[Tuple[str, Dict[str, Any]]]:
    if not isinstance(doc, dict):
        return
    for key, value in doc.items():
        if key == 'ros__parameters' and isinstance(value, dict):
            yield path or '/**', value
        elif isinstance(value, dict):
            yield from _ros_parameter_blocks(value, f'{path}/{key}'.replace('//', '/'))


def mixed_lists(doc: Any) -> List[str]:
    """One reason per list parameter that rcl would refuse: mixed element types, or a non-scalar element."""
    reasons = []
    for node, block in _ros_parameter_blocks(doc):
        for name, value in _parameters(block):
            if not isinstance(value, list) or not value:
                continue
            kinds = sorted({_type_name(v) for v in value})
            if len(kinds) > 1 or kinds[0] not in {n for _, n in _TYPE_NAMES}:
                reasons.append(f'{node}: {name}: {value!r} holds {" and ".join(kinds)} values; a ROS parameter list '
                               f'holds one type (e.g. [0, 1] or ["person"])')
    return reasons


def params_file_problems(argv: Sequence[str]) -> List[str]:
    """What rcl would refuse in the command line's params files, as 'file: node: parameter: why'."""
    import yaml
    problems = []
    for path in params_files(argv):
        try:
            with open(path, encoding='utf-8') as f:
                doc = yaml.safe_load(f)
        except (OSError, yaml.YAMLError) as exc:
            problems.append(f'{path}: {" ".join(str(exc).split())}')
            continue
        problems += [f'{path}: {reason}' for reason in mixed_lists(doc)]
    return problems


def init_ros(name: str, args: Optional[List[str]] = None, node_params_files: Sequence[str] = (),
             **init_kwargs: Any) -> bool:
    """rclpy.init(args); False after one ERROR line saying why ROS cannot start with this command line.

    node_params_files: params files the process gives its nodes itself (checked too, as rcl reads them
    only when the node is created).
    """
    import rclpy
    import rclpy.logging
    from rclpy.exceptions import InvalidNamespaceException, InvalidNodeNameException
    from rclpy.impl.implementation_singleton import rclpy_implementation
    argv = list(sys.argv if args is None else args)
    logger = rclpy.logging.get_logger(name)
    problems = params_file_problems(argv + [a for f in node_params_files if f for a in (PARAMS_FILE_FLAG, f)])
    if problems:
        logger.error(f'cannot start: the parameters file cannot be read by ROS: {"; ".join(problems)}')
        return False
    try:
        rclpy.init(args=args, **init_kwargs)
    except (rclpy_implementation.RCLError, InvalidNamespaceException, InvalidNodeNameException) as exc:
        logger.error(f'cannot start: ROS refused the command line: {" ".join(str(exc).split())}')
        return False
    return True
