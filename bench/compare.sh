#!/usr/bin/env bash
# Runs `hinge bench --json` and bench/peer_torch.py (if PyTorch is installed) in one go and
# prints both side by side with the speed ratio (peer ms / hinge ms: > 1 means hinge is faster).
# Usage: bench/compare.sh [build dir] [extra hinge bench args]
# OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are passed through as set; unset both in the calling
# command to get OpenBLAS's native kernels (both programs then use them).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}; shift || true
threads=${THREADS:-2}
"$build/hinge" bench --json --threads "$threads" "$@" > /tmp/hinge_bench.json
if /usr/bin/python3 -c "import torch" 2>/dev/null; then
  /usr/bin/python3 bench/peer_torch.py --threads "$threads" > /tmp/peer_bench.json
  /usr/bin/python3 bench/peer_torch.py --threads "$threads" --memory > /tmp/peer_mem.json
else
  echo '{}' > /tmp/peer_bench.json
  echo '{}' > /tmp/peer_mem.json
fi
/usr/bin/python3 - <<'PY'
import json
h = json.load(open("/tmp/hinge_bench.json")); p = json.load(open("/tmp/peer_bench.json"))
print(f"{'workload':26s} {'hinge ms':>10s} {'torch ms':>10s} {'ratio':>7s}")
for k, v in h.items():
    if k.startswith("_"): continue
    pm = p.get(k, {}).get("ms")
    r = f"{pm / v['ms']:.2f}x" if pm else "-"
    print(f"{k:26s} {v['ms']:10.1f} {pm if pm else float('nan'):10.1f} {r:>7s}")
mem = json.load(open("/tmp/peer_mem.json"))
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
