"""The package's import graph, read from the sources, and the layering rules it must keep.

Every import counts, wherever it stands (module level, inside a function, in a try), and so do
`importlib.import_module('x')` and `__import__('x')` with a literal string: a lazy import is still
a dependency. Layers: core (ROS-free library) < synth < ros < offline < tools < testing; cli may start any job.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Set, Tuple

# ROS Python packages the library must never import (the messages of this package included).
ROS_MODULES = frozenset((
    'rclpy', 'rcl_interfaces', 'sensor_msgs', 'vision_msgs', 'std_msgs', 'geometry_msgs', 'visualization_msgs',
    'diagnostic_msgs', 'diagnostic_updater', 'lifecycle_msgs', 'builtin_interfaces', 'launch', 'launch_ros',
    'ament_index_python', 'message_filters', 'rosidl_runtime_py', 'cv_bridge', 'hri_msgs', 'yolo_msgs',
    'tf2_msgs'))

# layer -> the layers it may import (besides itself)
ALLOWED: Dict[str, Set[str]] = {
    'core': set(),
    'synth': {'core'},
    'ros': {'core', 'msg'},
    'offline': {'core', 'synth', 'ros', 'msg'},
    'tools': {'core', 'synth', 'ros', 'offline', 'msg'},
    'testing': {'core', 'synth', 'ros', 'offline', 'msg', 'tools'},
    'msg': set(),
    'top': {'core', 'synth', 'ros', 'offline', 'msg', 'tools', 'testing'},   # __init__, __main__, cli
}


@dataclass
class ImportGraph:
    package: str
    modules: Dict[str, Path] = field(default_factory=dict)
    edges: Dict[str, Set[str]] = field(default_factory=dict)        # module -> modules of this package
    external: Dict[str, Set[str]] = field(default_factory=dict)     # module -> top-level names outside it


def module_name(root: Path, path: Path, package: str) -> str:
    parts = list(path.relative_to(root).with_suffix('').parts)
    if parts[-1] == '__init__':
        parts = parts[:-1]
    return '.'.join([package] + parts)


def _imported_names(tree: ast.AST, current: str, is_package: bool) -> List[str]:
    names: List[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = current.split('.')
                base = base[:len(base) - node.level + (1 if is_package else 0)]
                prefix = '.'.join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ''
            names.extend(f'{prefix}.{a.name}' for a in node.names)   # a module or a name in prefix
            names.append(prefix)
        elif isinstance(node, ast.Call):
            func = node.func
            called = (func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name)
                      else '')
            if called in ('import_module', '__import__') and node.args and isinstance(node.args[0], ast.Constant) \
                    and isinstance(node.args[0].value, str):
                names.append(node.args[0].value)
    return names


def build_graph(root: Path, package: str = 'mipnet_ros') -> ImportGraph:
    """The import graph of the package whose folder is `root`."""
    graph = ImportGraph(package)
    for path in sorted(root.rglob('*.py')):
        graph.modules[module_name(root, path, package)] = path
    for mod, path in graph.modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        inside, outside = set(), set()
        for name in _imported_names(tree, mod, path.name == '__init__.py'):
            top = name.split('.')[0]
            if top != package:
                outside.add(top)
                continue
            if name.startswith(package + '.msg'):
                inside.add(package + '.msg')
                continue
            while name and name not in graph.modules:       # 'pkg.mod.Name' -> 'pkg.mod'
                name = name.rpartition('.')[0]
            if name and name != mod and name != package:
                inside.add(name)
        graph.edges[mod] = inside
        graph.external[mod] = outside
    return graph


def layer_of(module: str, package: str = 'mipnet_ros') -> str:
    parts = module.split('.')
    if len(parts) < 2 or parts[1] in ('cli', '__main__'):
        return 'top'
    return parts[1]


def layering_violations(graph: ImportGraph) -> List[str]:
    """'a -> b' lines for every import that crosses layers the wrong way, or reaches ROS from the library."""
    out = []
    for mod, targets in sorted(graph.edges.items()):
        layer = layer_of(mod, graph.package)
        allowed = ALLOWED.get(layer, set()) | {layer}
        for t in sorted(targets):
            if layer_of(t, graph.package) not in allowed:
                out.append(f'{mod} -> {t}')
        if layer in ('core', 'synth'):
            for name in sorted(graph.external[mod] & ROS_MODULES):
                out.append(f'{mod} -> {name} (ROS)')
    return out


def cycles(graph: ImportGraph) -> List[Tuple[str, ...]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    found: List[Tuple[str, ...]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.edges.get(v, ()):
            if w not in graph.modules:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(tuple(sorted(comp)))

    for v in sorted(graph.modules):
        if v not in index:
            visit(v)
    return found
