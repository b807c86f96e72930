#!/usr/bin/env bash
# Runs `hinge bench --json` and the PyTorch peers (bench/peer_torch.py: SGEMM, conv, U-Net;
# bench/lpd_torch.py: learned primal-dual) in one go and prints them side by side with the
# speed ratio (peer / hinge: > 1 means hinge is faster), for wall time and for process CPU time
# (all threads; on a machine shared with other work the CPU time is the steadier measure).
# Usage: bench/compare.sh [build dir] [extra hinge bench args, e.g. --only lpd_train_b5_128]
# ONLY=a,b (or --only a,b among the extra args) restricts both sides to those workloads;
# LPD_OPERATOR=none times the PyTorch LPD without its ray transform (network alone).
# --check (among the extra args): after the table, prints each ratio target of issue 7 with
# PASS/MISS (CPU-time ratios: 2-D U-Net training >= 3x, inference >= 1.5x; every conv layer
# pass of the 2-D U-Net and LPD on the dispatched path >= 50% of SGEMM, via bench/bench_conv.c)
# and exits 1 when one is missed.
# OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are passed through as set; unset both in the calling
# command to get OpenBLAS's native kernels (both programs then use them).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}; shift || true
threads=${THREADS:-2}
only=${ONLY:-}
args=()
check=0
for a in "$@"; do
  if [[ $a == --check ]]; then check=1; else args+=("$a"); fi
done
for ((i = 0; i < ${#args[@]}; i++)); do
  [[ ${args[$i]} == --only ]] && only=${args[$((i + 1))]}
done
[[ -n $only && ! " ${args[*]-} " =~ " --only " ]] && args+=(--only "$only")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$build/hinge" bench --json --threads "$threads" ${args[@]+"${args[@]}"} > "$tmp/hinge.json"
echo '{}' > "$tmp/peer.json"
echo '{}' > "$tmp/lpd.json"
echo '{}' > "$tmp/mem.json"
if /usr/bin/python3 -c "import torch" 2>/dev/null; then
  want() { [[ -z $only ]] || [[ ",$only," =~ ,$1 ]]; }
  if want sgemm || want conv || want unet; then
    /usr/bin/python3 bench/peer_torch.py --threads "$threads" ${only:+--only "$only"} > "$tmp/peer.json"
  fi
  if want unet; then
    /usr/bin/python3 bench/peer_torch.py --threads "$threads" --memory > "$tmp/mem.json"
  fi
  if want lpd; then
    /usr/bin/python3 bench/lpd_torch.py --threads "$threads" --lib "$build/libhinge.so" \
      ${LPD_OPERATOR:+--operator "$LPD_OPERATOR"} ${only:+--only "$only"} > "$tmp/lpd.json"
  fi
fi
/usr/bin/python3 - "$tmp" "$check" <<'PY'
import json, sys
d, check = sys.argv[1], sys.argv[2] == "1"
h = json.load(open(f"{d}/hinge.json"))
p = json.load(open(f"{d}/peer.json")); p.update(json.load(open(f"{d}/lpd.json")))
print(f"{'workload':26s} {'hinge ms':>10s} {'torch ms':>10s} {'ratio':>7s}   "
      f"{'hinge CPU':>10s} {'torch CPU':>10s} {'ratio':>7s}")
for k, v in h.items():
    if k.startswith("_"): continue
    q = p.get(k, {})
    cells = []
    for key in ("ms", "cpu_ms"):
        a, b = v.get(key), q.get(key)
        r = f"{b / a:.2f}x" if a and b else "-"
        cells.append(f"{a if a else float('nan'):10.1f} {b if b else float('nan'):10.1f} {r:>7s}")
    print(f"{k:26s} {cells[0]}   {cells[1]}")
mem = json.load(open(f"{d}/mem.json"))
rows = [(k, v) for k, v in h.items() if not k.startswith("_") and "footprint_mb" in v]
if rows:
    print(f"\n{'memory of one step (MB)':26s} {'hinge arena':>12s} {'hinge live':>11s} {'torch':>8s}")
    for k, v in rows:
        pm = mem.get(k, {}).get("peak_mb")
        print(f"{k:26s} {v['footprint_mb']:12.1f} {v['peak_mb']:11.1f} "
              f"{pm if pm else float('nan'):8.1f}")
    print("(hinge arena: context memory handed out in the step, scratch included; hinge live:\n"
          " the most bytes live at once; torch: VmHWM - VmRSS around the step, see peer_torch.py)")
print("hinge:", h.get("_hinge"), " peer:", p.get("_peer"))
if check:
    miss = 0
    for k, target in (("unet2d_train_b4_256", 3.0), ("unet2d_infer_b1_256", 1.5)):
        a, b = h.get(k, {}).get("cpu_ms"), p.get(k, {}).get("cpu_ms")
        if not (a and b):
            print(f"check {k}: not measured (MISS)"); miss += 1; continue
        ok = b / a >= target
        miss += not ok
        print(f"check {k}: CPU ratio {b / a:.2f}x, target >= {target:g}x: {'PASS' if ok else 'MISS'}")
    open(f"{d}/miss", "w").write(str(miss))
PY
if ((check)); then
  bc=$build/bench_conv
  if [ ! -x "$bc" ] || [ "$bc" -ot bench/bench_conv.c ] || [ "$bc" -ot "$build/libhinge.so" ]; then
    gcc -O2 -fopenmp -Iinclude -Isrc bench/bench_conv.c -o "$bc" -L"$build" -lhinge \
      -Wl,-rpath,"$(cd "$build" && pwd)" $(pkg-config --libs openblas) -lm
  fi
  status=0
  for cls in unet2d lpd; do
    OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive} "$bc" --threads "$threads" --paths auto \
      --only "$cls" --check | grep -E "MISS|PASS|SGEMM" || status=1
  done
  [ "$(cat "$tmp/miss")" = 0 ] && [ $status = 0 ] || { echo "check: MISS"; exit 1; }
  echo "check: PASS"
fi
