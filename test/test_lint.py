"""The tree passes the linter (ruff: pyflakes, pycodestyle at 120 characters, import order; ruff.toml)."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _ruff():
    exe = shutil.which('ruff')
    if exe:
        return [exe]
    try:
        import ruff  # noqa: F401
    except ImportError:
        pytest.fail('ruff is not installed: `make setup` installs it (requirements-dev.txt)')
    return [sys.executable, '-m', 'ruff']


def test_tree_passes_ruff():
    out = subprocess.run(_ruff() + ['check', '--no-cache', '.'], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]


def test_ruff_catches_a_planted_violation(tmp_path):
    (tmp_path / 'bad.py').write_text('import os\nimport sys\n\n\ndef f():\n    return sys.argv\n')
    out = subprocess.run(_ruff() + ['check', '--no-cache', '--config', str(ROOT / 'ruff.toml'), str(tmp_path)],
                         capture_output=True, text=True)
    assert out.returncode != 0 and 'F401' in out.stdout
