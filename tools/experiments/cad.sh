#!/bin/sh
# Computer-aided detection demo (issue 6) in one command:
#   tools/experiments/cad.sh [OUT_DIR]
# Synthetic lesions (ellipses of random size, contrast sign and strength, smooth edges) are
# inserted into axial slices of the Colin27 T1 (mricron-data), 128x128. Held-out slices
# (contiguous blocks, never neighbours of training slices) give the test set.
#  1. hinge lesions      writes COUNT held-out test samples (images, masks, labels.csv)
#  2. hinge train resnet18 --task lesion   a ResNet-18 (width 8) learns present/absent on
#                        fresh samples of the training slices every step
#  3. hinge train unet --task lesion       a residual U-Net with deep supervision learns the
#                        lesion masks (all samples with a lesion); validation Dice on
#                        held-out slices
#  4. hinge classify     on the test set: ROC AUC with a bootstrap 95% CI, sensitivity and
#                        specificity at 0.5, ECE, reliability diagram, CAM overlays
# Under 10 minutes on 2 shared cores with the defaults. Environment: HINGE (binary, default
# build/hinge), THREADS (default: all cores), COUNT (test samples, 300), CLS_STEPS (1500),
# SEG_STEPS (600), DATA (--data argument: a T1 path, or "synthetic" without mricron-data).
set -eu
here=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$here/build/cad}
hinge=${HINGE:-$here/build/hinge}
threads=${THREADS:-0}
count=${COUNT:-300}
cls_steps=${CLS_STEPS:-1500}
seg_steps=${SEG_STEPS:-600}
data=${DATA:+--data $DATA}
# Idle OpenMP threads must not spin on a shared machine (see docs/results/ellipse.md).
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
mkdir -p "$out"
t0=$(date +%s)
echo "== test set: $count held-out samples" >&2
"$hinge" lesions $data --size 128 --count "$count" --seed 12345 -o "$out/test"
echo "== classifier: resnet18, $cls_steps steps" >&2
"$hinge" train resnet18 --task lesion $data --size 128 --set width=8 --steps "$cls_steps" \
    --batch 16 --lr 3e-3 --schedule cosine --val-count 200 --eval-every 200 --seed 0 \
    --threads "$threads" --json -o "$out/resnet18.safetensors" > "$out/resnet18.json"
cat "$out/resnet18.json" >&2
echo "== segmentation: residual U-Net with deep supervision, $seg_steps steps" >&2
"$hinge" train unet --task lesion $data --size 128 --lesion p=1 --set features=8,16,32 \
    --set norm=instance --set activation=leaky_relu --set residual=1 --set deep_supervision=1 \
    --steps "$seg_steps" --batch 4 --lr 3e-3 --schedule cosine --val-count 100 \
    --eval-every 200 --seed 0 --threads "$threads" --json -o "$out/unet.safetensors" \
    > "$out/unet.json"
cat "$out/unet.json" >&2
echo "== classify the held-out test set" >&2
(cd "$out/test" && "$hinge" classify --model "$out/resnet18.safetensors" --labels labels.csv \
    --reliability "$out/reliability.png" --overlay "$out/overlay" --threads "$threads" \
    --json images/*.nii.gz > "$out/classify.json")
jq -c .evaluation "$out/classify.json" >&2
echo "== sensitivity at 0.5 by lesion size (geometric mean semi-axis r, pixels) and |contrast|" >&2
jq -r '.images[] | [.file, .scores[1]] | @csv' "$out/classify.json" | tr -d '"' | sort \
    > "$out/scores.csv"
tail -n +2 "$out/test/lesions.csv" | sort | join -t, "$out/scores.csv" - | awk -F, '
    $3 == 1 { r = sqrt($8 * $9); c = $11 < 0 ? -$11 : $11
              rb = r < 5 ? "r < 5" : (r < 8 ? "5 <= r < 8" : "r >= 8")
              cb = c < 0.3 ? "|c| < 0.3" : (c < 0.45 ? "0.3 <= |c| < 0.45" : "|c| >= 0.45")
              n[rb]++; t[rb] += $2 >= 0.5; n[cb]++; t[cb] += $2 >= 0.5 }
    END { for (k in n) printf "  %-18s %3d/%3d = %.3f\n", k, t[k], n[k], t[k] / n[k] }' \
    | sort | tee "$out/sensitivity_by_lesion.txt" >&2
echo "== segment two held-out lesions" >&2
for f in $(awk -F, '$2 == 1 {print $1}' "$out/test/labels.csv" | head -2); do
    name=$(basename "$f" .nii.gz)
    "$hinge" segment --model "$out/unet.safetensors" --normalize none "$out/test/$f" \
        -o "$out/$name.seg.nii.gz"
done
echo "== done in $(( $(date +%s) - t0 )) s; results in $out" >&2
