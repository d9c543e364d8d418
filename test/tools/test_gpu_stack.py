"""scripts/gpu_stack.sh: which stack `make setup` installs, with nvidia-smi, uname and the Jetson file faked."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / 'scripts' / 'gpu_stack.sh'
BASH = shutil.which('bash')
JETSON_RELEASE = '# R36 (release), REVISION: 4.0, GCID: 37537400, BOARD: generic, EABI: aarch64, DATE: Fri Sep 13\n'


def _fake(bindir: Path, name: str, body: str) -> None:
    path = bindir / name
    path.write_text('#!' + BASH + '\n' + body + '\n')
    path.chmod(0o755)


def run(tmp_path: Path, fn: str = 'gpu_stack', args=(), arch: str = 'x86_64', smi=None, tegra: str = '',
        gpu_env=None) -> str:
    """Call a function of the script with only the fakes and the text tools it uses on PATH.

    smi: None = no nvidia-smi; (exit status, output) = a fake one.
    """
    bindir = tmp_path / 'bin'
    bindir.mkdir(exist_ok=True)
    for tool in ('head', 'tr', 'cut'):
        target = bindir / tool
        if not target.exists():
            target.symlink_to(shutil.which(tool))
    _fake(bindir, 'uname', f'echo {arch}')
    if smi is not None:
        _fake(bindir, 'nvidia-smi', f"printf '%s\\n' '{smi[1]}'; exit {smi[0]}")
    release = tmp_path / 'nv_tegra_release'
    if tegra:
        release.write_text(tegra)
    env = {'PATH': str(bindir), 'HOME': str(tmp_path), 'MIPNET_TEGRA_RELEASE': str(release)}
    if gpu_env is not None:
        env['MIPNET_GPU'] = gpu_env
    cmd = f'source {SCRIPT}; {fn} "$@"'
    out = subprocess.run([BASH, '-c', cmd, 'gpu_stack', *map(str, args)], env=env, capture_output=True,
                         text=True, timeout=20)
    assert out.returncode == 0, out.stderr
    return out.stdout


DESKTOP = (0, 'NVIDIA GeForce RTX 4090, 550.54.14')
BROKEN = (9, 'NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver.')


@pytest.mark.parametrize('case, kw, stack, words', [
    ('no GPU', {}, 'cpu', 'no NVIDIA GPU found'),
    ('desktop GPU', {'smi': DESKTOP}, 'cuda', 'nvidia-smi found: NVIDIA GeForce RTX 4090, 550.54.14'),
    ('Jetson', {'arch': 'aarch64', 'tegra': JETSON_RELEASE}, 'jetson', 'R36 (release), REVISION: 4.0'),
    ('forced off, desktop GPU', {'smi': DESKTOP, 'gpu_env': '0'}, 'cpu', 'MIPNET_GPU=0 forces'),
    ('forced off, Jetson', {'arch': 'aarch64', 'tegra': JETSON_RELEASE, 'gpu_env': '0'}, 'cpu', 'MIPNET_GPU=0'),
    ('forced on, x86_64 without GPU', {'gpu_env': '1'}, 'cuda', 'MIPNET_GPU=1'),
    ('forced on, aarch64 without the Jetson file', {'arch': 'aarch64', 'gpu_env': '1'}, 'jetson', 'MIPNET_GPU=1'),
    ('forced on, Jetson', {'arch': 'aarch64', 'tegra': JETSON_RELEASE, 'gpu_env': '1'}, 'jetson', 'R36'),
    ('driver broken', {'smi': BROKEN}, 'cpu', 'nvidia-smi fails (NVIDIA-SMI has failed'),
    ('driver broken, forced on', {'smi': BROKEN, 'gpu_env': '1'}, 'cuda', 'MIPNET_GPU=1'),
    ('GPU on an aarch64 server', {'arch': 'aarch64', 'smi': DESKTOP}, 'cpu', 'x86_64 only'),
    ('unknown request', {'smi': DESKTOP, 'gpu_env': 'maybe'}, 'cpu', 'neither 1 nor 0'),
])
def test_stack_choice(tmp_path, case, kw, stack, words):
    line = run(tmp_path, **kw)
    assert line.count('\n') == 1, line          # one line: setup prints it once
    got, reason = line.strip().split(' ', 1)
    assert got == stack, (case, line)
    assert words in reason, (case, line)


def _lines(text: str):
    return [ln for ln in text.splitlines() if ln.strip()]


def test_requirements_per_stack(tmp_path):
    req = tmp_path / 'requirements.txt'
    req.write_text('# comment\ntorch==2.13.*\nnumpy\nonnxruntime>=1.20  # CPU build\nonnx\n\npyyaml\n')
    assert _lines(run(tmp_path, 'stack_requirements', ['cpu', req])) == \
        ['torch==2.13.*', 'numpy', 'onnxruntime>=1.20', 'onnx', 'pyyaml']
    # the same version spec for the CUDA build, never both onnxruntime wheels
    assert _lines(run(tmp_path, 'stack_requirements', ['cuda', req])) == \
        ['torch==2.13.*', 'numpy', 'onnxruntime-gpu[cuda,cudnn]>=1.20', 'onnx', 'pyyaml']
    # JetPack provides torch and onnxruntime-gpu: nothing CUDA from PyPI
    assert _lines(run(tmp_path, 'stack_requirements', ['jetson', req])) == ['numpy', 'onnx', 'pyyaml']


def test_the_project_requirements_map_cleanly(tmp_path):
    req = REPO / 'requirements.txt'
    cpu = _lines(run(tmp_path, 'stack_requirements', ['cpu', req]))
    cuda = _lines(run(tmp_path, 'stack_requirements', ['cuda', req]))
    jetson = _lines(run(tmp_path, 'stack_requirements', ['jetson', req]))
    assert 'onnxruntime' in cpu and 'onnxruntime-gpu' not in cpu
    assert 'onnxruntime-gpu[cuda,cudnn]' in cuda and 'onnxruntime' not in cuda
    assert not any(r.startswith(('torch', 'onnxruntime')) for r in jetson)
    assert set(cpu) - {'onnxruntime'} == set(cuda) - {'onnxruntime-gpu[cuda,cudnn]'}


@pytest.mark.parametrize('stack, installed', [('cpu', 'onnxruntime'), ('cuda', 'onnxruntime-gpu')])
def test_switching_removes_the_other_onnxruntime(tmp_path, stack, installed):
    conflicts = run(tmp_path, 'stack_conflicts', [stack]).split()
    other = {'onnxruntime', 'onnxruntime-gpu'} - {installed}
    assert other <= set(conflicts) and installed not in conflicts


def test_jetson_removes_venv_copies_that_would_hide_jetpack(tmp_path):
    assert set(run(tmp_path, 'stack_conflicts', ['jetson']).split()) == {'torch', 'onnxruntime', 'onnxruntime-gpu'}


# ---------------------------------------------------------------------- switching a real venv
def _wheel(folder: Path, dist: str, files: dict) -> None:
    """A minimal pure-Python wheel: enough for pip to install, record and uninstall it."""
    import base64
    import hashlib
    import zipfile
    info = f'{dist.replace("-", "_")}-1.0.0.dist-info'
    files = dict(files)
    extras = ''.join(f'Provides-Extra: {e}\n' for e in ('cuda', 'cudnn'))   # as onnxruntime-gpu declares
    files[f'{info}/METADATA'] = f'Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0.0\n{extras}'
    files[f'{info}/WHEEL'] = 'Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n'
    record = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b'=').decode()
        record.append(f'{name},sha256={digest},{len(text.encode())}')
    files[f'{info}/RECORD'] = '\n'.join(record + [f'{info}/RECORD,,']) + '\n'
    with zipfile.ZipFile(folder / f'{dist.replace("-", "_")}-1.0.0-py3-none-any.whl', 'w') as zf:
        for name, text in files.items():
            zf.writestr(name, text)


@pytest.fixture(scope='module')
def venv(tmp_path_factory):
    """A throwaway venv and local wheels that clash like the real ones: both own onnxruntime/__init__.py."""
    import sys
    root = tmp_path_factory.mktemp('stack')
    wheels = root / 'wheels'
    wheels.mkdir()
    for dist, build in (('onnxruntime', 'cpu'), ('onnxruntime-gpu', 'gpu')):
        _wheel(wheels, dist, {'onnxruntime/__init__.py': f'BUILD = {build!r}\n'})
    _wheel(wheels, 'fakecommon', {'fakecommon.py': 'X = 1\n'})
    _wheel(wheels, 'setuptools', {'setuptools_stand_in.py': ''})   # the install pins setuptools<80
    (root / 'requirements.txt').write_text('# common list\nonnxruntime\nfakecommon\n')
    subprocess.run([sys.executable, '-m', 'venv', '--without-pip', str(root / 'venv')], check=True, timeout=120)
    import pip  # ensurepip is slow: lend the venv this pip (a plain package folder)
    site = subprocess.run([str(root / 'venv' / 'bin' / 'python'), '-c',
                           'import sysconfig; print(sysconfig.get_paths()["purelib"])'],
                          capture_output=True, text=True, check=True).stdout.strip()
    shutil.copytree(Path(pip.__file__).parent, Path(site) / 'pip')
    return root


def _install(root: Path, stack: str) -> subprocess.CompletedProcess:
    venv = root / 'venv'
    cmd = (f'set -e; source {SCRIPT}; '
           f'pip_install() {{ "{venv}/bin/python" -m pip install --quiet --no-compile --no-index '
           f'--find-links {root}/wheels "$@"; }}; '
           f'stack_install {venv} {stack} {root}/requirements.txt 0')
    env = dict(os.environ, PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK='1')
    return subprocess.run([BASH, '-c', cmd], env=env, capture_output=True, text=True, timeout=120)


def _state(root: Path):
    code = ('import importlib.metadata as m, onnxruntime, fakecommon\n'
            'names = sorted(d.metadata["Name"] for d in m.distributions() if d.metadata["Name"].startswith("onnx"))\n'
            'print(onnxruntime.BUILD, *names)')
    out = subprocess.run([str(root / 'venv' / 'bin' / 'python'), '-c', code], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_a_venv_switches_between_stacks_and_never_holds_both(venv):
    assert _install(venv, 'cpu').returncode == 0
    assert _state(venv) == ['cpu', 'onnxruntime']
    out = _install(venv, 'cuda')
    assert out.returncode == 0, out.stderr
    assert 'removing onnxruntime from the venv' in out.stderr
    assert _state(venv) == ['gpu', 'onnxruntime-gpu']
    assert _install(venv, 'cpu').returncode == 0
    assert _state(venv) == ['cpu', 'onnxruntime']


def test_both_wheels_installed_by_hand_are_untangled(venv):
    pip = [str(venv / 'venv' / 'bin' / 'python'), '-m', 'pip', 'install', '--quiet', '--no-index',
           '--find-links', str(venv / 'wheels')]
    env = dict(os.environ, PIP_CONFIG_FILE=os.devnull)
    subprocess.run(pip + ['onnxruntime', 'onnxruntime-gpu'], check=True, env=env, timeout=120)
    # removing onnxruntime deletes the shared onnxruntime/__init__.py: the GPU wheel must be restored
    assert _install(venv, 'cuda').returncode == 0
    assert _state(venv) == ['gpu', 'onnxruntime-gpu']


def test_jetson_without_jetpack_wheels_stops_and_says_what_to_install(venv):
    out = _install(venv, 'jetson')
    assert out.returncode != 0
    assert 'pypi.jetson-ai-lab.io/jp6/cu126' in out.stderr and 'JetPack 6' in out.stderr
    assert 'torch: ModuleNotFoundError' in out.stderr
    assert 'include-system-site-packages = true' in (venv / 'venv' / 'pyvenv.cfg').read_text()
    assert _install(venv, 'cpu').returncode == 0          # and back
    assert 'include-system-site-packages = false' in (venv / 'venv' / 'pyvenv.cfg').read_text()
    assert _state(venv) == ['cpu', 'onnxruntime']
