#!/usr/bin/env bash
# Seed spread of the occlusion experiment's HRNet rows: stage 2 of N=1/2/3 again with seeds 1 and 2
# (same stage-1 net, so only the stage-2 randomness differs: lambda-gate init, crop order, augmentation),
# then one table of all nine runs in docs/results/occlusion_seeds/. A row named <method>_s<seed> is
# compared with the N=1 row of the same seed. Run scripts/occlusion_experiment.sh first (it makes the
# data, the stage-1 net and the seed-0 runs). About 1.5 h on 2 CPU cores (we ran two side by side: 50 min).
#   bash scripts/occlusion_seeds.sh                  # finished runs are skipped
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup_env.sh >/dev/null
set +u; source scripts/env.sh >/dev/null; set -u
DEVICE="${DEVICE:-auto}"
SEEDS="${SEEDS:-1 2}"
for f in out/synth_small/test.json runs/synth_hrnet_w16s_pre/final.pth; do
  [[ -f "$f" ]] || { echo "occlusion_seeds: $f is missing: run scripts/occlusion_experiment.sh first" >&2; exit 2; }
done
methods=()
for n in 1 2 3; do methods+=(--method "hrnet_n$n=runs/synth_hrnet_w16s_n$n/final.pth"); done
for seed in $SEEDS; do
  for n in 1 2 3; do
    name="synth_hrnet_w16s_n${n}_seed${seed}"
    if [[ ! -f "runs/$name/final.pth" ]]; then
      python -m mipnet_ros train --config "config/synth_hrnet_w16s_n$n.yaml" --resume --no-progress \
        --set "run.seed=$seed" --set "run.name=$name" --set "run.device=$DEVICE"
    fi
    methods+=(--method "hrnet_n${n}_s${seed}=runs/$name/final.pth")
  done
done
python -m mipnet_ros report --test out/synth_small/test.json --no-progress --out docs/results/occlusion_seeds \
  --eval-dir out/report_seeds --reuse "${methods[@]}" --notes-file docs/results/occlusion_seeds_notes.md
