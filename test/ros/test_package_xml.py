"""package.xml lists exactly the ROS packages the code imports (rosdep and a binary install rely on it).

The imports come from the same import graph the layering test reads (mipnet_ros/testing/layering.py):
the package, its launch files and the tests. Optional packages (hri_msgs, tf2_msgs, yolo_msgs) may
be left out only where every import of them is guarded (inside a try that catches ImportError) or
lives in test support that runs only when the package was found.
"""
import ast
import xml.etree.ElementTree as ET
from pathlib import Path

from mipnet_ros.testing.layering import ROS_MODULES, build_graph

REPO = Path(__file__).resolve().parents[2]
OPTIONAL = {'hri_msgs', 'yolo_msgs', 'tf2_msgs'}
# run time dependencies without a Python import: the message runtime and the `ros2 launch` command
NOT_IMPORTED = {'rosidl_default_runtime', 'ros2launch', 'lifecycle_msgs'}


def _deps():
    root = ET.parse(REPO / 'package.xml').getroot()
    tags = {}
    for el in root:
        tags.setdefault(el.tag, set()).add((el.text or "").strip())
    run = tags.get('depend', set()) | tags.get('exec_depend', set())
    return run, run | tags.get('test_depend', set()) | tags.get('build_depend', set())


def _ros_imports(root: Path, package: str):
    graph = build_graph(root, package)
    found = {}
    for module, names in graph.external.items():
        for name in names & ROS_MODULES:
            found.setdefault(name, set()).add(module)
    return found, graph


def _guarded(path: Path, name: str) -> bool:
    """Every import of `name` in the file sits in a try whose handlers catch ImportError."""
    tree = ast.parse(path.read_text())
    catching = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try):
            names = {ast.unparse(h.type) for h in node.handlers if h.type is not None}
            if names & {'ImportError', 'ModuleNotFoundError', 'Exception', '(ImportError, ModuleNotFoundError)'}:
                for inner in node.body:
                    catching.update(id(n) for n in ast.walk(inner))
    imports = [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom)) and (
        any(a.name.split('.')[0] == name for a in n.names) if isinstance(n, ast.Import)
        else (n.module or '').split('.')[0] == name)]
    return bool(imports) and all(id(n) in catching for n in imports)


def test_every_ros_package_the_code_imports_is_a_dependency():
    run, _ = _deps()
    used, graph = _ros_imports(REPO / 'mipnet_ros', 'mipnet_ros')
    launch_used, _ = _ros_imports(REPO / 'launch', 'launch_files')
    for name, modules in launch_used.items():
        used.setdefault(name, set()).update(modules)
    missing = {}
    for name, modules in used.items():
        if name in run:
            continue
        if name in OPTIONAL:
            unguarded = [m for m in modules if not m.startswith('mipnet_ros.testing')
                         and not _guarded(graph.modules[m], name)]
            if not unguarded:
                continue
            modules = unguarded
        missing[name] = sorted(modules)
    assert not missing, f'imported but not in package.xml (or an unguarded optional import): {missing}'


def test_every_listed_ros_package_is_used():
    run, _ = _deps()
    used = set(_ros_imports(REPO / 'mipnet_ros', 'mipnet_ros')[0]) | set(_ros_imports(REPO / 'launch', 'lf')[0])
    listed_ros = {d for d in run if not d.startswith('python3-')} - NOT_IMPORTED - {'std_msgs', 'vision_msgs'}
    # std_msgs and vision_msgs are the messages' own dependencies (msg/*.msg), imported as well
    assert listed_ros <= used, f'listed in package.xml but never imported: {sorted(listed_ros - used)}'
    assert {'std_msgs', 'vision_msgs'} <= used


def test_tests_import_only_listed_packages():
    _, everything = _deps()
    used, _ = _ros_imports(REPO / 'test', 'tests')
    extra = {n: sorted(m) for n, m in used.items() if n not in everything and n not in OPTIONAL}
    assert not extra, f'tests import ROS packages package.xml does not list: {extra}'
