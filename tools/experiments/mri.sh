#!/bin/sh
# Experiment 3, multi-coil MRI, in one command:
#   tools/experiments/mri.sh [STEPS] [OUT_DIR]
# trains MoDL and VarNet with `hinge train` at 4x (8% centre lines) and 8x (4%) on axial
# Colin27 T1 slices z 30-95 and 125-150 (64x64, 8 simulated loop coils, a fresh fastMRI random
# line mask every sample, 0.2% complex Gaussian noise of max|k|, batch 1, Adam lr 1e-3, cosine
# decay, clipping at 1), two runs at a time on one thread each, then evaluates zero-filled,
# CG-SENSE, l1-wavelet (hinge and BART pics), MoDL and VarNet on the held-out slices
# z = 100, 102, ..., 118 (tools/experiments/mri_eval.py) and writes OUT_DIR/mri_table.md and
# docs/results/mri_montage.png. Needs mricron-data (Colin27), bart, python3-nibabel,
# python3-skimage, python3-pil.
# Environment: HINGE (binary, default build/hinge), SIZE (64), NOISE (0.002).
set -eu
here=$(cd "$(dirname "$0")/../.." && pwd)
steps=${1:-500}
out=${2:-$here/build/mri}
hinge=${HINGE:-$here/build/hinge}
size=${SIZE:-64}
noise=${NOISE:-0.002}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
mkdir -p "$out"
common="--steps $steps --lr 1e-3 --schedule cosine --clip 1 --eval-every 250 --seed 0 \
        --threads 1 --noise $noise --json"
varnet="--set cascades=5 --set features=8,16,32 --set sens_features=8,16"
train() { # arch acceleration centre-fraction [extra options]
    a=$1 acc=$2 cf=$3
    shift 3
    "$hinge" train "$a" --set size="$size" --set coils=8 --set acceleration="$acc" \
        --set center_fraction="$cf" "$@" $common -o "$out/$a-${acc}x.safetensors" \
        > "$out/$a-${acc}x.json" 2> "$out/$a-${acc}x.log"
    cat "$out/$a-${acc}x.json" >&2
}
for pair in "4 0.08" "8 0.04"; do
    set -- $pair
    echo "== training MoDL and VarNet at ${1}x for $steps steps" >&2
    train modl "$1" "$2" &
    train varnet "$1" "$2" $varnet &
    wait
done
echo "== evaluating on the held-out slices" >&2
HINGE=$hinge SIZE=$size NOISE=$noise /usr/bin/python3 "$here/tools/experiments/mri_eval.py" "$out"
