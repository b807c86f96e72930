#!/usr/bin/env bash
# The exported 2-D U-Net (the ONNX fixtures' UNet2d at width $WIDTH, 1x1x$SIZE^2 input)
# through hinge (hg_onnx_run) and the same model in PyTorch, same input, same thread count,
# best and median of $REPEATS forwards each, with the ratio (torch ms / hinge ms: > 1 means
# hinge is faster) and hinge's max relative error against PyTorch's output.
# Usage: bench/onnx_unet_bench.sh [build dir]    (WIDTH=32 SIZE=256 REPEATS=10 THREADS=2)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
width=${WIDTH:-32}; size=${SIZE:-256}; repeats=${REPEATS:-10}; threads=${THREADS:-2}
out=${OUT:-/tmp/hinge_onnx_bench}
export OMP_NUM_THREADS=$threads OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
gcc -O2 -fopenmp -Iinclude bench/onnx_bench.c "$build/libhinge.a" \
  $(pkg-config --libs openblas fftw3f libcjson zlib libpng libjpeg libopenjp2 charls libprotobuf-c hdf5-serial) \
  -lnifti2 -lznz -lm -o "$build/onnx_bench"
/usr/bin/python3 bench/onnx_unet_peer.py "$out" "$width" "$size" "$repeats" "$threads" 2>/dev/null > /tmp/peer_onnx.json
"$build/onnx_bench" "$out/unet2d.onnx" "$out/x.f32" "$out/y.f32" 1 1 "$size" "$size" "$repeats" > /tmp/hinge_onnx.json
/usr/bin/python3 - "$width" "$size" <<'PY'
import json, sys
h = json.load(open("/tmp/hinge_onnx.json")); p = json.load(open("/tmp/peer_onnx.json"))
print(f"U-Net width {sys.argv[1]}, 1x1x{sys.argv[2]}x{sys.argv[2]}, {p['params']} parameters ({p['peer']})")
print(f"{'':8s} {'best ms':>9s} {'median ms':>10s}")
print(f"{'hinge':8s} {h['best_ms']:9.1f} {h['median_ms']:10.1f}   (load {h['load_ms']:.1f} ms, max rel err vs torch {h['max_rel_err']:.2g})")
print(f"{'torch':8s} {p['best_ms']:9.1f} {p['median_ms']:10.1f}")
print(f"ratio torch/hinge: best {p['best_ms'] / h['best_ms']:.2f}x, median {p['median_ms'] / h['median_ms']:.2f}x")
PY
