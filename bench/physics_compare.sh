#!/usr/bin/env bash
# Physics speed against the peers, side by side in one run (issue 3): builds bench/ct_bench.c
# and bench/mri_bench.c against <build>/libhinge.a, then
#   - runs ct_bench and bench/ct_skimage.py alternately, twice (run 1, run 2), and prints the
#     projector / FBP times with the ratio skimage / hinge (target >= 50x, on the best-of-N
#     times: the least disturbed runs of each on a shared machine; medians are printed too),
#     and the same with one thread each in process CPU time (skimage is single-threaded;
#     informative, not checked);
#   - with --mri: bench/mri_bench.c (hinge and `bart pics` alternate inside it), twice;
#   - with --cone: the 256^3, 360-view cone projection, its GB/s and a STREAM triad.
# Usage: bench/physics_compare.sh [build dir] [--check] [--mri] [--cone]
# --check: exit 1 when a target is missed (CT ratios < 50x; MRI: hinge slower than BART).
set -euo pipefail
cd "$(dirname "$0")/.."
build=build
check=0; mri=0; cone=0
for a in "$@"; do
  case "$a" in
    --check) check=1 ;; --mri) mri=1 ;; --cone) cone=1 ;;
    -*) echo "unknown option $a" >&2; exit 2 ;;
    *) build="$a" ;;
  esac
done
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive} OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
libs="-lopenblas -lfftw3f -lcjson -lz -lpng -lnifti2 -lznz -lm"
extra=$(grep -q "HINGE_HDF5:BOOL=ON\|hdf5" "$build/CMakeCache.txt" 2>/dev/null && pkg-config --libs hdf5 2>/dev/null || true)
for b in ct_bench mri_bench; do
  gcc -O2 -fopenmp -Iinclude -Isrc "bench/$b.c" "$build/libhinge.a" $libs $extra -o "$build/$b"
done
fail=0
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), OMP_NUM_THREADS=$OMP_NUM_THREADS"
for run in 1 2; do
  h=$("$build/ct_bench" --reps 51); p=$(/usr/bin/python3 bench/ct_skimage.py --reps 7)
  get() { echo "$1" | tr ' ' '\n' | grep -A1 -x "$2" | tail -1; }
  echo "run $run (parallel beam 256^2, 180 angles, 256 detectors; $(echo "$p" | head -1))"
  printf "  %-10s %18s %18s %14s\n" workload "hinge best/median" "skimage best/med" "ratio best/med"
  for w in "projector radon" "fbp iradon"; do
    set -- $w
    hb=$(get "$h" ${1}_best_ms); hm=$(get "$h" ${1}_median_ms)
    pb=$(get "$p" ${2}_best_ms); pm=$(get "$p" ${2}_median_ms)
    rb=$(awk -v a="$pb" -v b="$hb" 'BEGIN{printf "%.1f", a/b}')
    rm=$(awk -v a="$pm" -v b="$hm" 'BEGIN{printf "%.1f", a/b}')
    printf "  %-10s %8.2f/%-8.2f ms %7.1f/%-7.1f ms %6sx/%-6sx\n" "$1" "$hb" "$hm" "$pb" "$pm" "$rb" "$rm"
    awk -v r="$rb" 'BEGIN{exit !(r < 50)}' && fail=1
  done
  printf "  %-10s %8.2f/%-8.2f ms   (hinge only)\n" adjoint "$(get "$h" adjoint_best_ms)" "$(get "$h" adjoint_median_ms)"
  echo "  one thread each, process CPU ms (robust to machine load):"
  for w in "projector radon" "fbp iradon"; do
    set -- $w
    hb=$(get "$h" ${1}_cpu1_best_ms); hm=$(get "$h" ${1}_cpu1_median_ms)
    pb=$(get "$p" ${2}_cpu1_best_ms); pm=$(get "$p" ${2}_cpu1_median_ms)
    printf "  %-10s %8.2f/%-8.2f ms %7.1f/%-7.1f ms %6sx/%-6sx\n" "$1" "$hb" "$hm" "$pb" "$pm" \
      "$(awk -v a="$pb" -v b="$hb" 'BEGIN{printf "%.1f", a/b}')" "$(awk -v a="$pm" -v b="$hm" 'BEGIN{printf "%.1f", a/b}')"
  done
  echo "  STREAM triad: $(get "$h" stream_triad_gbs) GB/s"
done
if [ "$mri" = 1 ]; then
  mc=""; [ "$check" = 1 ] && mc=--check
  for run in 1 2; do echo "MRI run $run"; "$build/mri_bench" --repeat 3 $mc || fail=1; done
fi
if [ "$cone" = 1 ]; then
  "$build/ct_bench" --reps 1 --cone
fi
if [ "$check" = 1 ] && [ "$fail" = 1 ]; then echo "a target was missed" >&2; exit 1; fi
exit 0
