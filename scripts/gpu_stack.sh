# Which inference stack this machine gets, and what that means for pip. Sourced by scripts/setup_env.sh.
#
#   gpu_stack                  -> "cpu|cuda|jetson <reason>" on one line
#   stack_requirements STACK REQUIREMENTS_FILE  -> the requirement lines to install for STACK
#   stack_conflicts STACK      -> venv packages that must go before STACK is installed
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
      cuda:onnxruntime) echo "onnxruntime-gpu${line#"$name"}" ;;   # same version spec, CUDA build
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
