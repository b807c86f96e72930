#!/usr/bin/env bash
# Reading speed: a 512x512x300 CT series (DICOM, one file per slice) and a 181x217x181
# .nii.gz through hinge (hg_dicom_read, hg_nifti_read: float32 volumes with the rescale
# applied) next to pydicom and nibabel doing the same (bench/read_peer.py), best of N runs,
# files page-cached. Data are generated once under $DATA (default /tmp/hinge_read_bench).
# Usage: bench/read_bench.sh [build dir] [repeats]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}; repeats=${2:-3}
data=${DATA:-/tmp/hinge_read_bench}
/usr/bin/python3 bench/make_read_data.py "$data"
gcc -O2 -fopenmp -Iinclude bench/read_bench.c "$build/libhinge.a" \
  $(pkg-config --libs openblas fftw3f libcjson zlib libpng libjpeg libopenjp2 charls libprotobuf-c hdf5-serial) \
  -lnifti2 -lznz -lm -o "$build/read_bench"
"$build/read_bench" "$data/ct" "$data/mni.nii.gz" "$repeats" > /tmp/hinge_read.json
/usr/bin/python3 bench/read_peer.py "$data/ct" "$data/mni.nii.gz" "$repeats" > /tmp/peer_read.json
/usr/bin/python3 - <<'PY'
import json
h = json.load(open("/tmp/hinge_read.json")); p = json.load(open("/tmp/peer_read.json"))
names = {"dicom_series": "512x512x300 CT series", "nifti_gz": "181x217x181 .nii.gz"}
print(f"{'read':24s} {'hinge ms':>9s} {'peer ms':>9s} {'peer/hinge':>10s}  checksums agree")
for k, v in h.items():
    q = p[k]
    same = abs(v["checksum"] - q["checksum"]) <= 1e-6 * max(1.0, abs(q["checksum"]))
    print(f"{names[k]:24s} {v['ms']:9.1f} {q['ms']:9.1f} {q['ms'] / v['ms']:9.2f}x  {same}")
print("peer:", p["_peer"])
PY
