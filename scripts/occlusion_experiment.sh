#!/usr/bin/env bash
# The occlusion experiment of docs/results/occlusion.*, end to end and resumable:
# the synthetic benchmark, HRNet-W16s N=1/2/3 and SimpleBaseline ResNet-18 N=1/2 (two stages each,
# see the config headers), then the report. About 2.5 h on 2 CPU cores; minutes on a GPU.
#   bash scripts/occlusion_experiment.sh            # everything (finished runs are skipped)
#   DEVICE=cuda:0 bash scripts/occlusion_experiment.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh >/dev/null
set +u; source scripts/env.sh >/dev/null; set -u
DEVICE="${DEVICE:-auto}"

if [[ ! -f out/synth_small/test.json || ! -f out/synth_small/train.json ]]; then
  python -m mipnet_ros synth --config config/synth/synth_small.yaml --no-progress
fi
for cfg in synth_hrnet_w16s_pre synth_hrnet_w16s_n1 synth_hrnet_w16s_n2 synth_hrnet_w16s_n3 \
           synth_resnet18_pre synth_resnet18_n1 synth_resnet18_n2; do
  if [[ -f "runs/$cfg/final.pth" ]]; then echo "$cfg: done"; continue; fi
  python -m mipnet_ros train --config "config/$cfg.yaml" --resume --no-progress --set "run.device=$DEVICE"
done
python -m mipnet_ros report --test out/synth_small/test.json --no-progress --out docs/results \
  --method hrnet_n1=runs/synth_hrnet_w16s_n1/final.pth --method hrnet_n2=runs/synth_hrnet_w16s_n2/final.pth \
  --method hrnet_n3=runs/synth_hrnet_w16s_n3/final.pth \
  --method simplebaseline_n1=runs/synth_resnet18_n1/final.pth \
  --method simplebaseline_n2=runs/synth_resnet18_n2/final.pth \
  --notes-file docs/results/occlusion_notes.md
