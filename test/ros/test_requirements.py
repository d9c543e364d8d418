"""requirements.txt is what a robot needs, requirements-dev.txt the rest, and package.xml agrees.

The nodes (the executables CMakeLists.txt installs) and the Python API are imported and run in a clean
interpreter; every third-party module they load must come from requirements.txt, and none from the
development file. package.xml carries the rosdep key of every runtime requirement that has one.
"""
import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# import name -> requirement name, for the libraries whose two names differ
REQUIREMENT_OF = {'cv2': 'opencv-python-headless', 'yaml': 'pyyaml'}
# requirement -> rosdep key (those without one are pip only, as package.xml's comment says)
ROSDEP_KEY = {'numpy': 'python3-numpy', 'opencv-python-headless': 'python3-opencv', 'pyyaml': 'python3-yaml',
              'tqdm': 'python3-tqdm', 'scipy': 'python3-scipy'}


def _names(path: Path):
    names = []
    for line in path.read_text().splitlines():
        line = line.split('#', 1)[0].strip()
        if line and not line.startswith('-'):
            names.append(re.split(r'[=<>~!;\[ ]', line, maxsplit=1)[0].lower())
    return names


def _node_modules():
    text = (REPO / 'CMakeLists.txt').read_text()
    modules = re.findall(r'"\w+=(mipnet_ros\.[\w.]+)"', text)
    assert modules, 'CMakeLists.txt lists no node executables (name=module)'
    return modules


LOADER = r'''
import json, sys
import numpy as np
modules = json.loads(sys.argv[1])
import importlib
for m in modules:
    importlib.import_module(m)
from mipnet_ros import PoseEstimator
from mipnet_ros.core.weights import command, resolve  # noqa: F401  (python -m mipnet_ros weights)
from mipnet_ros.core.resources import bundled_model_path
image = np.zeros((240, 320, 3), np.uint8)
box = np.array([[60, 20, 200, 230]], np.float32)
for model in (None, str(bundled_model_path().with_suffix('.onnx'))):
    PoseEstimator(model=model, device='cpu')(image, box)
print(json.dumps(sorted({name.split('.')[0] for name in sys.modules})))
'''


def test_runtime_and_development_requirements_are_apart():
    runtime, dev = _names(REPO / 'requirements.txt'), _names(REPO / 'requirements-dev.txt')
    assert '-r requirements.txt' in (REPO / 'requirements-dev.txt').read_text(), 'dev must include the runtime set'
    assert not set(runtime) & set(dev)
    for dev_only in ('pycocotools', 'rosbags', 'matplotlib', 'motmetrics', 'yacs'):
        assert dev_only in dev and dev_only not in runtime


def test_the_nodes_and_the_python_api_load_only_runtime_requirements():
    runtime, dev = set(_names(REPO / 'requirements.txt')), set(_names(REPO / 'requirements-dev.txt'))
    out = subprocess.run([sys.executable, '-c', LOADER, json.dumps(_node_modules())], cwd=REPO,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    loaded = {REQUIREMENT_OF.get(m, m).lower() for m in json.loads(out.stdout.strip().splitlines()[-1])}
    assert not loaded & dev, f'the nodes or the Python API import development tools: {sorted(loaded & dev)}'
    needed = {'torch', 'numpy', 'opencv-python-headless', 'onnxruntime', 'onnx', 'pyyaml', 'scipy'}
    missing = {m for m in loaded & needed if m not in runtime}
    assert not missing and needed <= loaded | runtime


def test_package_xml_keys_are_the_runtime_set():
    runtime = _names(REPO / 'requirements.txt')
    root = ET.parse(REPO / 'package.xml').getroot()
    keys = {(el.text or '').strip() for el in root if el.tag in ('depend', 'exec_depend')}
    python_keys = {k for k in keys if k.startswith('python3-')}
    expected = {ROSDEP_KEY[r] for r in runtime if r in ROSDEP_KEY}
    assert python_keys == expected, f'package.xml python3-* keys {sorted(python_keys)} vs {sorted(expected)}'
    pip_only = sorted(r for r in runtime if r not in ROSDEP_KEY)
    comment = re.search(r'pip only, from requirements.txt: ([\w ]+)', (REPO / 'package.xml').read_text())
    assert comment and sorted(comment.group(1).split()) == pip_only


def test_pip_install_asks_for_the_runtime_set():
    import ast
    tree = ast.parse((REPO / 'setup.py').read_text())
    call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, 'id', '') == 'setup')
    requires = next(k.value for k in call.keywords if k.arg == 'install_requires')
    names = {re.split(r'[=<>~!;\[ ]', e.value, maxsplit=1)[0].lower() for e in requires.elts}
    assert names == set(_names(REPO / 'requirements.txt'))
