#!/bin/sh
# Brain extraction on Colin27 (issue 6 demo), in one command:
#   tools/experiments/brain_mask.sh [OUT_DIR]
# 1. makes a training set from the Colin27 T1 and its skull-stripped version (mricron-data):
#    30 training + 6 held-out subjects, each a random smooth deformation of image and mask at a
#    random 2.5-3.5 mm spacing with intensity augmentation (make_colin_dataset.py);
# 2. plans (`hinge plan`, 2 threads, 1 s per step, base features 8);
# 3. trains the planned 3-D U-Net (`hinge train unet --plan`);
# 4. segments the held-out subjects and the original 1 mm Colin27 T1 and reports Dice / HD95
#    against the masks (`hinge eval`), and draws an overlay figure.
# 5. with STRUCTURES=1 (default), the same for six structures (the AAL atlas grouped into
#    frontal, parietal, temporal, occipital, deep grey, cerebellum) in OUT_DIR/st.
#    Class-balanced patches (--fg-sampling classes, the default), no flips (atlas regions
#    depend on direction), deep supervision, ST_STEPS steps (default 800).
# Environment: HINGE (binary, default build/hinge), STEPS (default 300), ST_STEPS (800),
# THREADS (2), MASK=0 skips the brain mask, RESUME=1 continues the trainings from their
# checkpoints (OUT_DIR/ds.ckpt, OUT_DIR/st.ckpt).
set -eu
here=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-$here/build/brain_mask}
hinge=${HINGE:-$here/build/hinge}
steps=${STEPS:-300}
st_steps=${ST_STEPS:-800}
resume=
[ "${RESUME:-0}" = 1 ] && resume=--resume
threads=${THREADS:-2}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
t=/usr/share/mricron/templates
[ -f $t/ch2.nii.gz ] || { echo "needs mricron-data (tools/install-deps.sh)" >&2; exit 1; }
mkdir -p "$out"
# run LABELS DATA_DIR NAME PRED_DIR [train options]: data, plan, training, inference, scores
run() {
    labels=$1 ds=$2 name=$3 pred=$4 n=$5
    shift 5
    [ -f "$ds/dataset.json" ] || /usr/bin/python3 "$here/tools/experiments/make_colin_dataset.py" \
        "$ds" --train 30 --test 6 --seed 0 --labels "$labels"
    "$hinge" plan "$ds" --threads "$threads" --step-seconds 1 --features 8 -o "$ds.plan.json"
    "$hinge" train unet --data "$ds" --plan "$ds.plan.json" --steps "$n" --eval-every 25 \
        --val-fraction 0.1 --lr 2e-3 --seed 0 --threads "$threads" --checkpoint "$ds.ckpt" \
        --checkpoint-every 25 $resume -o "$out/$name.safetensors" --json "$@" | tee "$ds.train.json"
    # held-out deformed subjects and the original Colin27 at 1 mm
    mkdir -p "$pred"
    for f in "$ds"/imagesTs/*_0000.nii.gz; do
        "$hinge" segment --model "$out/$name.safetensors" --threads "$threads" "$f" \
            -o "$pred/$(basename "$f" _0000.nii.gz).nii.gz"
    done
    "$hinge" segment --model "$out/$name.safetensors" --threads "$threads" $t/ch2.nii.gz \
        -o "$pred/colin27.nii.gz"
    /usr/bin/python3 "$here/tools/experiments/brain_mask_eval.py" "$out" --labels "$labels"
}
[ "${MASK:-1}" = 1 ] && run brain "$out/ds" brain-mask "$out/pred" "$steps"
[ "${STRUCTURES:-1}" = 1 ] || exit 0
# atlas regions depend on direction: no flips; every structure oversampled alike
run structures "$out/st" brain-structures "$out/pred_st" "$st_steps" --mirror 0 \
    --fg-sampling classes --set deep_supervision=1 --eval-every 50
