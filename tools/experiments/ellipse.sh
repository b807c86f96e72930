#!/bin/sh
# Experiment 1, the learned primal-dual ellipse experiment, in one command:
#   tools/experiments/ellipse.sh [STEPS] [OUT_DIR]
# trains FBPConvNet, LGD and LPD with `hinge train` on fresh random-ellipse phantoms
# (128x128, 30 angles, 183 detectors, 5% noise, batch 5, Adam lr 1e-3 beta2 0.99, cosine
# decay, gradient clipping at 1: the published setup, for STEPS instead of 100k steps), then
# evaluates FBP, TV and the three networks with `hinge ellipse` on Shepp-Logan and 100
# held-out phantoms and writes docs/results/ellipse.md.
# A network whose OUT_DIR/<arch>.safetensors exists is not trained again (put a trained
# model there, e.g. models/lpd-ellipse.safetensors as lpd.safetensors, to evaluate it), and
# an interrupted training resumes from its checkpoint: re-run the same command.
# Environment: HINGE (binary, default build/hinge), THREADS (default: all cores),
# COUNT (test phantoms, default 100).
set -eu
here=$(cd "$(dirname "$0")/../.." && pwd)
steps=${1:-100000}
out=${2:-$here/build/ellipse}
hinge=${HINGE:-$here/build/hinge}
threads=${THREADS:-0}
count=${COUNT:-100}
# Idle OpenMP threads must not spin on a shared machine (see docs/results/ellipse.md).
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
mkdir -p "$out"
geometry="--set size=128 --set angles=30 --set detectors=183"
common="--steps $steps --batch 5 --lr 1e-3 --beta2 0.99 --schedule cosine --clip 1 --threads $threads \
        --val-count 20 --eval-every $(( steps < 1000 ? steps : 1000 )) --seed 0"
for arch in fbpconvnet lgd lpd; do
    if [ -f "$out/$arch.safetensors" ]; then
        echo "== $arch: $out/$arch.safetensors exists, not trained again" >&2
        continue
    fi
    echo "== training $arch for $steps steps" >&2
    resume=""
    [ -f "$out/$arch.ckpt" ] && resume="--resume"
    "$hinge" train "$arch" $geometry $common --checkpoint "$out/$arch.ckpt" \
        --checkpoint-every 100 $resume -o "$out/$arch.safetensors" --json > "$out/$arch.json"
    cat "$out/$arch.json" >&2
done
echo "== evaluating" >&2
"$hinge" ellipse --models "$out" --count "$count" --threads "$threads" \
    -o "$here/docs/results/ellipse.md"
echo "wrote $here/docs/results/ellipse.md" >&2
