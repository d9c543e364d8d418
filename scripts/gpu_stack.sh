# Which inference stack this machine gets, and what that means for pip. Sourced by scripts/setup_env.sh.
#
#   gpu_stack                  -> "cpu|cuda|jetson <reason>" on one line
#   stack_requirements STACK REQUIREMENTS_FILE  -> the requirement lines to install for STACK
#   stack_conflicts STACK      -> venv packages that must go before STACK is installed
#   stack_install VENV STACK REQUIREMENTS_FILE [KEEP_SYSTEM_SITE]  -> switch a venv to STACK (run under set -e)
#
# MIPNET_GPU=1 asks for the GPU stack, MIPNET_GPU=0 forces the CPU one; otherwise a working nvidia-smi
# (desktop, x86_64) or /etc/nv_tegra_release (Jetson; MIPNET_TEGRA_RELEASE names another file) decides.
# onnxruntime and onnxruntime-gpu install the same `onnxruntime` module: only one may be in a venv.

gpu_stack() {
  local tegra="${MIPNET_TEGRA_RELEASE:-/etc/nv_tegra_release}" want="${MIPNET_GPU:-}" arch smi ok
  arch="$(uname -m)"
  case "${want,,}" in
    0|false|no|off) echo "cpu MIPNET_GPU=$want forces the CPU stack"; return 0 ;;
    1|true|yes|on) want=1 ;;
    '') want='' ;;
    *) echo "cpu MIPNET_GPU=$want is neither 1 nor 0: CPU stack"; return 0 ;;
  esac
  if [[ -f "$tegra" ]]; then
    echo "jetson $tegra found: $(head -n1 "$tegra" | tr -s ' #' ' ' | cut -c1-80)"; return 0
  fi
  if command -v nvidia-smi >/dev/null 2>&1; then
    ok=0
    smi="$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>&1)" && ok=1
    smi="$(head -n1 <<< "$smi")"
    if ((ok)) && [[ -n "$smi" ]]; then
      if [[ "$arch" == x86_64 ]]; then echo "cuda nvidia-smi found: $smi"; return 0; fi
      echo "cpu nvidia-smi found $smi, but PyPI's CUDA builds of torch and onnxruntime-gpu are x86_64 only" \
           "(this is $arch): install them for this machine yourself"; return 0
    fi
    [[ -n "$want" ]] || { echo "cpu nvidia-smi fails (${smi:0:80}): fix the driver, or MIPNET_GPU=1"; return 0; }
  fi
  if [[ -n "$want" ]]; then
    case "$arch" in
      x86_64) echo "cuda MIPNET_GPU=1 (no working nvidia-smi here)"; return 0 ;;
      aarch64) echo "jetson MIPNET_GPU=1 on aarch64 (no $tegra): JetPack's torch and onnxruntime-gpu"; return 0 ;;
      *) echo "cpu MIPNET_GPU=1, but there are no CUDA wheels for $arch"; return 0 ;;
    esac
  fi
  echo "cpu no NVIDIA GPU found (no nvidia-smi, no $tegra)"
}

# requirements.txt stays the CPU list anyone can `pip install -r`; the GPU stacks are rewrites of it.
stack_requirements() {
  local stack="$1" req="$2" line name
  while IFS= read -r line || [[ -n "$line" ]]; do
    line="${line%%#*}"; line="${line//[[:space:]]/}"
    [[ -z "$line" ]] && continue
    name="${line%%[=<>~!;\[]*}"
    case "$stack:${name,,}" in
      # same version spec; the extras bring the CUDA and cuDNN libraries it was built with, as pip packages
      cuda:onnxruntime) echo "onnxruntime-gpu[cuda,cudnn]${line#"$name"}" ;;
      jetson:torch|jetson:onnxruntime) ;;                          # JetPack provides them
      *) echo "$line" ;;
    esac
  done < "$req"
}

stack_conflicts() {
  case "$1" in
    cpu) echo onnxruntime-gpu ;;
    cuda) echo onnxruntime ;;
    jetson) echo torch onnxruntime onnxruntime-gpu ;;   # venv copies would hide JetPack's
  esac
}

# --- switching a venv to a stack -----------------------------------------------------------------
# The caller defines pip_install (pip install with its options); `say` prints progress.
type say >/dev/null 2>&1 || say() { printf '[setup] %s\n' "$*" >&2; }

_venv_has() {   # VENV NAME...: those distributions installed in the venv itself (not the system's)
  local venv="$1"; shift
  "$venv/bin/python" - "$@" <<'PY'
import sys
from importlib import metadata
for name in sys.argv[1:]:
    try:
        where = str(metadata.distribution(name).locate_file(''))
    except metadata.PackageNotFoundError:
        continue
    if where.startswith(sys.prefix):
        print(name)
PY
}

jetpack_missing() {   # VENV: what it lacks of JetPack's CUDA stack, one line each (empty: all there)
  "$1/bin/python" - <<'PY'
import sys
try:
    import torch
    if not torch.version.cuda:
        print(f'torch {torch.__version__} is not a CUDA build')
    else:
        import numpy
        try:
            torch.from_numpy(numpy.zeros(1))
        except Exception:
            print(f'torch {torch.__version__} cannot use NumPy {numpy.__version__} (built against NumPy 1?): '
                  f"{sys.executable} -m pip install 'numpy<2'")
except Exception as exc:
    print(f'torch: {type(exc).__name__}: {str(exc)[:160]}')
try:
    import onnxruntime
    if 'CUDAExecutionProvider' not in onnxruntime.get_available_providers():
        print(f'onnxruntime {onnxruntime.__version__} has no CUDAExecutionProvider (not onnxruntime-gpu)')
except Exception as exc:
    print(f'onnxruntime-gpu: {type(exc).__name__}: {str(exc)[:160]}')
PY
}

jetpack_help() {   # VENV MISSING: what to install, and from where
  local venv_py sys_py
  venv_py="$("$1/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
  sys_py="$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || echo '?')"
  say "the jetson stack uses JetPack's CUDA builds of torch and onnxruntime-gpu, which PyPI does not have:"
  while read -r line; do say "  - $line"; done <<< "$2"
  say "JetPack 6 (L4T R36, CUDA 12.6, Python 3.10): install them for the system Python, then run this again:"
  say "  python3 -m pip install --user torch onnxruntime-gpu 'numpy<2' --index-url https://pypi.jetson-ai-lab.io/jp6/cu126"
  say "(or NVIDIA's torch wheel from 'Installing PyTorch for Jetson Platform' on docs.nvidia.com, and onnxruntime-gpu"
  say " from elinux.org/Jetson_Zoo#ONNX_Runtime)."
  if [[ "$venv_py" != "$sys_py" ]]; then
    say "The venv runs Python $venv_py but python3 is $sys_py: JetPack's wheels need the venv on the system Python:"
    say "  rm -rf $1 && PYTHON=/usr/bin/python3 make setup"
  fi
  say "MIPNET_GPU=0 installs the CPU stack instead."
}

stack_install() {   # VENV STACK REQUIREMENTS KEEP_SYSTEM_SITE(0|1): switch VENV to STACK, install its requirements
  local venv="$1" stack="$2" req="$3" keep_system="${4:-0}" py="$1/bin/python" reqs ort had_ort torch_req build v missing
  local -a gone
  if [[ $stack == jetson ]]; then
    sed -i -E 's/^(include-system-site-packages *= *).*/\1true/' "$venv/pyvenv.cfg"
  elif [[ $keep_system != 1 ]]; then
    sed -i -E 's/^(include-system-site-packages *= *).*/\1false/' "$venv/pyvenv.cfg"
  fi
  reqs="$venv/requirements-$stack.txt"
  stack_requirements "$stack" "$req" > "$reqs"
  ort="$(grep -E '^onnxruntime(-gpu)?([=<>~![]|$)' "$reqs" || true)"
  # Both onnxruntime wheels ship the onnxruntime/ folder: removing the other one damages an installed $ort.
  had_ort="$(if [[ -n "$ort" ]]; then _venv_has "$venv" "${ort%%[=<>~![]*}"; fi)"
  # shellcheck disable=SC2046
  gone=($(_venv_has "$venv" $(stack_conflicts "$stack")))
  if ((${#gone[@]})); then
    say "removing ${gone[*]} from the venv ($stack stack)"
    "$py" -m pip uninstall --quiet -y "${gone[@]}"
  fi
  if [[ $stack == jetson ]] && missing="$(jetpack_missing "$venv")" && [[ -n "$missing" ]]; then
    jetpack_help "$venv" "$missing"; return 1
  fi
  torch_req="$(grep -E '^torch([=<>~!]|$)' "$reqs" || true)"
  if [[ -n "$torch_req" ]]; then
    # torch first: with no torch present, an unpinned dependency would pull the multi-GB CUDA build.
    pip_install "$torch_req" "setuptools<80"
    build="$("$py" -c 'import torch; print(torch.__version__, torch.version.cuda or "cpu")')"
    if [[ $stack == cuda && "$build" == *" cpu" ]]; then
      # a pip find-links/index of this machine offered a CPU wheel (2.13.0+cpu): `===` excludes local labels
      v="${build%% *}"; v="${v%%+*}"
      say "torch ${build%% *} is a CPU build: replacing it with PyPI's CUDA build, torch $v"
      "$py" -m pip uninstall --quiet -y torch
      pip_install "torch===$v"
    fi
  fi
  pip_install -r "$reqs" "setuptools<80"
  if ((${#gone[@]})) && [[ -n "$had_ort" ]]; then pip_install --force-reinstall --no-deps "$ort"; fi
  if [[ $stack == jetson ]] && missing="$(jetpack_missing "$venv")" && [[ -n "$missing" ]]; then
    jetpack_help "$venv" "$missing"; return 1   # e.g. a library above pulled NumPy 2 under a NumPy 1 torch
  fi
}
