#!/usr/bin/env bash
# The whole GPU session in one prepared run: the self-check of every GPU path against CPU float32,
# then the full benchmark on the GPU (fp32 / tf32 / fp16 / channels-last / CUDA graph, shared trunk
# vs per-lambda, torch vs onnxruntime). Needs only python3 with torch (CUDA), numpy, opencv, onnx,
# onnxruntime and matplotlib: no ROS, no venv, so it runs on a bare GPU machine from a checkout.
#
#   OUT=/some/dir bash bench/gpu_check.sh [DATA_DIR]
#
# DATA_DIR: a COCO-style folder for real crops (default ../shared/data/coco, else a generated image).
# Writes to $OUT (default out/gpu): nvidia-smi.txt, gpu_check.{json,log}, bench_gpu.{json,png,log}.
# DEVICE=cpu QUICK=1 runs the same steps on a CPU in about two minutes (to try the script itself).
# Exit status: 1 when a check failed or the benchmark broke; both steps always run.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
OUT="${OUT:-out/gpu}"
DEVICE="${DEVICE:-cuda:0}"
PY="${PYTHON:-python3}"
mkdir -p "$OUT"
# The checkout has the installed share layout (models/, config/): no colcon install is needed here.
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 MIPNET_SHARE="${MIPNET_SHARE:-$ROOT}"

DATA="${1:-}"
if [[ -z "$DATA" && -d "$ROOT/../shared/data/coco" ]]; then DATA="$ROOT/../shared/data/coco"; fi
data_args=()
if [[ -n "$DATA" ]]; then data_args=(--data "$DATA"); fi
bench_args=(--device "$DEVICE" --no-int8 --json "$OUT/bench_gpu.json")
if [[ -n "${QUICK:-}" ]]; then bench_args+=(--quick --gpu-boxes 4,8); fi

{ date -u; uname -a; nvidia-smi 2>&1 || echo 'nvidia-smi: not available'; nproc; } >"$OUT/nvidia-smi.txt"
"$PY" -c 'import torch, onnxruntime as o; print("torch", torch.__version__, "cuda", torch.cuda.is_available(),
"onnxruntime", o.__version__, o.get_available_providers())' 2>&1 | tee -a "$OUT/nvidia-smi.txt"

rc=0
"$PY" -m mipnet_ros check --device "$DEVICE" "${data_args[@]}" --json "$OUT/gpu_check.json" 2>&1 \
    | tee "$OUT/gpu_check.log" || rc=1
"$PY" -m mipnet_ros bench "${bench_args[@]}" 2>&1 | tee "$OUT/bench_gpu.log" || rc=1
echo "gpu_check.sh: exit $rc; files in $OUT: $(ls "$OUT" | tr '\n' ' ')"
exit "$rc"
