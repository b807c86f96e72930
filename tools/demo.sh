#!/usr/bin/env bash
# The main job on a built-in default: installs what it needs, builds hinge, then
#  1. the CT chain on the modified Shepp-Logan phantom (simulated on a 2x finer grid: no
#     inverse crime): 60 noisy parallel-beam views -> FBP, SIRT and TV reconstructions,
#     a metrics table and a PNG figure (truth | reconstructions, error maps below); then the
#     learned primal-dual setting (30 views, 5% noise): FBP, TV and the shipped LPD network;
#  2. Fashion-MNIST: trains the small CNN for 5 epochs (about 15 minutes on 2 cores) and
#     reports its test accuracy (published small CNNs: 0.90-0.93).
# Outputs go to out/demo/. HINGE_DEMO_SKIP_TRAIN=1 skips step 2.
set -euo pipefail
cd "$(dirname "$0")/.."
# Threads sleep instead of spinning between parallel regions: on a machine shared with other
# work, spinning cost 3-20x in wall time here (docs/PERFORMANCE.md).
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
bash tools/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
h=build/hinge
o=out/demo
mkdir -p "$o"
echo "== CT: Shepp-Logan 128x128, 60 views, 2% Gaussian noise"
$h phantom shepp-logan --size 128 -o "$o/truth.nii.gz"
$h phantom shepp-logan --size 256 --pixel 0.5 -o "$o/truth_fine.nii.gz"
$h simulate ct --geometry parallel --angles 60 --detectors 183 --det-spacing 1 \
  --noise gaussian:0.02 --seed 7 --recon-size 128 "$o/truth_fine.nii.gz" -o "$o/sino.nii.gz"
$h recon --method fbp --filter hann "$o/sino.nii.gz" -o "$o/fbp.nii.gz"
$h recon --method sirt --iters 100 --nonneg "$o/sino.nii.gz" -o "$o/sirt.nii.gz"
$h recon --method tv --lambda 0.5 --iters 300 --nonneg "$o/sino.nii.gz" -o "$o/tv.nii.gz"
$h eval --ref "$o/truth.nii.gz" "$o/fbp.nii.gz" "$o/sirt.nii.gz" "$o/tv.nii.gz" \
  --png "$o/ct_figure.png"
echo "figure: $o/ct_figure.png"
echo "== Learned primal-dual (shipped model lpd-ellipse): 30 views, 5% noise, 128x128"
$h simulate ct --angles 30 --detectors 183 --det-spacing 1 --noise gaussian:0.05 --seed 0 \
  "$o/truth.nii.gz" -o "$o/sino30.nii.gz"
$h recon --method fbp "$o/sino30.nii.gz" -o "$o/fbp30.nii.gz"
$h recon --method tv --lambda 0.5 --iters 300 --nonneg "$o/sino30.nii.gz" -o "$o/tv30.nii.gz"
$h recon --model lpd-ellipse "$o/sino30.nii.gz" -o "$o/lpd30.nii.gz"
$h eval --ref "$o/truth.nii.gz" "$o/fbp30.nii.gz" "$o/tv30.nii.gz" "$o/lpd30.nii.gz" \
  --png "$o/lpd_figure.png"
echo "figure: $o/lpd_figure.png (truth | FBP | TV | LPD; error maps below)"
if [ "${HINGE_DEMO_SKIP_TRAIN:-0}" != 1 ]; then
  echo "== Fashion-MNIST: small CNN, 5 epochs"
  $h train cnn --epochs 5 --batch 64 --lr 2e-3 --schedule cosine --seed 0 \
    -o "$o/fmnist_cnn.safetensors"
fi
