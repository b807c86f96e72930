#!/bin/sh
# Experiment 2, low-dose CT (LoDoPaB-like), in one command:
#   tools/experiments/lowdose.sh [STEPS] [OUT_DIR]
# Parallel beam with LoDoPaB-CT's sampling (1000 angles over [0, π), 513 detector bins
# spanning the image diagonal) and dose (pre-log Poisson noise, 4096 photons per detector
# pixel, zero counts as 0.1 photon, post-log), on random anatomy-like chest phantoms that are
# simulated by exact line integrals (no inverse crime). The image grid is 128x128 over a
# 26 cm field (LoDoPaB: 362x362) so that the networks train on two CPU cores.
# Trains the networks in ARCHS (default: fbpconvnet lpd) with `hinge train`, then evaluates
# FBP, TV and them with `hinge ellipse --phantom chest` and writes docs/results/lowdose.md.
# Environment: HINGE (binary), THREADS, COUNT (test phantoms, default 100), ARCHS.
set -eu
here=$(cd "$(dirname "$0")/../.." && pwd)
steps=${1:-2000}
out=${2:-$here/build/lowdose}
hinge=${HINGE:-$here/build/hinge}
threads=${THREADS:-0}
count=${COUNT:-100}
archs=${ARCHS:-fbpconvnet lpd}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
mkdir -p "$out"
# 513 bins over the 128-pixel image's diagonal (181 pixels): spacing 0.353 pixel.
geometry="--set size=128 --set angles=1000 --set detectors=513 --set detector_spacing=0.353"
protocol="--phantom chest --photons 4096"
common="--steps $steps --batch 5 --lr 1e-3 --beta2 0.99 --schedule cosine --clip 1 \
        --threads $threads --val-count 20 --eval-every $(( steps < 500 ? steps : 500 )) --seed 0"
for arch in $archs; do
    echo "== training $arch for $steps steps" >&2
    resume=""
    [ -f "$out/$arch.ckpt" ] && resume="--resume"
    "$hinge" train "$arch" $geometry $protocol $common --checkpoint "$out/$arch.ckpt" \
        --checkpoint-every 100 $resume -o "$out/$arch.safetensors" --json > "$out/$arch.json"
    cat "$out/$arch.json" >&2
done
echo "== evaluating" >&2
"$hinge" ellipse --models "$out" $protocol --count "$count" --threads "$threads" \
    --size 128 --angles 1000 --detectors 513 --detector-spacing 0.353 \
    -o "$here/docs/results/lowdose.md"
echo "wrote $here/docs/results/lowdose.md" >&2
