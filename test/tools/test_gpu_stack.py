"""scripts/gpu_stack.sh: which stack `make setup` installs, with nvidia-smi, uname and the Jetson file faked."""
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
        ['torch==2.13.*', 'numpy', 'onnxruntime-gpu>=1.20', 'onnx', 'pyyaml']
    # JetPack provides torch and onnxruntime-gpu: nothing CUDA from PyPI
    assert _lines(run(tmp_path, 'stack_requirements', ['jetson', req])) == ['numpy', 'onnx', 'pyyaml']


def test_the_project_requirements_map_cleanly(tmp_path):
    req = REPO / 'requirements.txt'
    cpu = _lines(run(tmp_path, 'stack_requirements', ['cpu', req]))
    cuda = _lines(run(tmp_path, 'stack_requirements', ['cuda', req]))
    jetson = _lines(run(tmp_path, 'stack_requirements', ['jetson', req]))
    assert 'onnxruntime' in cpu and 'onnxruntime-gpu' not in cpu
    assert 'onnxruntime-gpu' in cuda and 'onnxruntime' not in cuda
    assert not any(r.startswith(('torch', 'onnxruntime')) for r in jetson)
    assert set(cpu) - {'onnxruntime'} == set(cuda) - {'onnxruntime-gpu'}


@pytest.mark.parametrize('stack, installed', [('cpu', 'onnxruntime'), ('cuda', 'onnxruntime-gpu')])
def test_switching_removes_the_other_onnxruntime(tmp_path, stack, installed):
    conflicts = run(tmp_path, 'stack_conflicts', [stack]).split()
    other = {'onnxruntime', 'onnxruntime-gpu'} - {installed}
    assert other <= set(conflicts) and installed not in conflicts


def test_jetson_removes_venv_copies_that_would_hide_jetpack(tmp_path):
    assert set(run(tmp_path, 'stack_conflicts', ['jetson']).split()) == {'torch', 'onnxruntime', 'onnxruntime-gpu'}

