#!/usr/bin/env bash
# Runs `hinge bench --json` and the PyTorch peers (bench/peer_torch.py: SGEMM, conv, U-Net;
# bench/lpd_torch.py: learned primal-dual) in one go and prints them side by side with the
# speed ratio (peer / hinge: > 1 means hinge is faster), for wall time and for process CPU time
# (all threads; on a machine shared with other work the CPU time is the steadier measure).
# Usage: bench/compare.sh [build dir] [extra hinge bench args, e.g. --only lpd_train_b5_128]
# ONLY=a,b (or --only a,b among the extra args) restricts both sides to those workloads;
# LPD_OPERATOR=none times the PyTorch LPD without its ray transform (network alone).
# OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are passed through as set; unset both in the calling
# command to get OpenBLAS's native kernels (both programs then use them).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}; shift || true
threads=${THREADS:-2}
only=${ONLY:-}
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  [[ ${args[$i]} == --only ]] && only=${args[$((i + 1))]}
done
[[ -n $only && ! " ${args[*]-} " =~ " --only " ]] && args+=(--only "$only")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$build/hinge" bench --json --threads "$threads" "${args[@]}" > "$tmp/hinge.json"
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
/usr/bin/python3 - "$tmp" <<'PY'
import json, sys
d = sys.argv[1]
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
PY
