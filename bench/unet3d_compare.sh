#!/usr/bin/env bash
# 3-D U-Net: hinge (bench/unet3d_bench.c) and PyTorch (bench/unet3d_torch.py), same model and
# settings, one after the other, ROUNDS times (default 2), with the speed ratio
# (torch / hinge: > 1 means hinge is faster), for wall time and for process CPU time (the
# latter is less disturbed by other jobs on a shared machine). Extra arguments go to both programs
# (--features F --patch P --window W --repeat N --only train|infer).
# Usage: bench/unet3d_compare.sh [build dir] [args...]; THREADS (default 2), ROUNDS.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}; shift || true
threads=${THREADS:-2}
rounds=${ROUNDS:-2}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
bin=$build/unet3d_bench
if [ ! -x "$bin" ] || [ "$bin" -ot bench/unet3d_bench.c ] || [ "$bin" -ot "$build/libhinge.so" ]; then
  gcc -O2 -fopenmp -Iinclude bench/unet3d_bench.c -o "$bin" -L"$build" -lhinge -Wl,-rpath,"$(cd "$build" && pwd)" -lm
fi
tmp=$(mktemp -d)
# same network: hinge's weights in the peer reproduce hinge's output (fails the script if not)
features=16; patch=96; prev=""
for a in "$@"; do [ "$prev" = "--features" ] && features=$a; [ "$prev" = "--patch" ] && patch=$a; prev=$a; done
"$bin" --features "$features" --check "$tmp/model.safetensors"
/usr/bin/python3 bench/unet3d_torch.py --features "$features" --check "$tmp/model.safetensors"
for r in $(seq "$rounds"); do
  "$bin" --threads "$threads" "$@" > "$tmp/h$r.json"
  /usr/bin/python3 bench/unet3d_torch.py --threads "$threads" "$@" > "$tmp/p$r.json" 2>/dev/null
done
echo '{}' > "$tmp/mem.json"  # memory of a training step: PyTorch's peak RSS growth (peer_torch.py)
[[ " $* " == *" --only infer "* ]] || /usr/bin/python3 bench/peer_torch.py --memory3d \
  --threads "$threads" --features "$features" --patch "$patch" > "$tmp/mem.json"
/usr/bin/python3 - "$tmp" "$rounds" <<'PY'
import json, sys
d, rounds = sys.argv[1], int(sys.argv[2])
print(f"{'round':6s} {'workload':32s} {'hinge ms':>10s} {'torch ms':>10s} {'ratio':>7s}"
      f" {'hinge cpu':>10s} {'torch cpu':>10s} {'ratio':>7s}")
for r in range(1, rounds + 1):
    h = json.load(open(f"{d}/h{r}.json")); p = json.load(open(f"{d}/p{r}.json"))
    for k, v in h.items():
        if k.startswith("_"): continue
        pm, pc = p.get(k, {}).get("ms"), p.get(k, {}).get("cpu_ms")
        ratio = f"{pm / v['ms']:.2f}x" if pm else "-"
        cr = f"{pc / v['cpu_ms']:.2f}x" if pc else "-"
        print(f"{r:<6d} {k:32s} {v['ms']:10.1f} {pm if pm else float('nan'):10.1f} {ratio:>7s}"
              f" {v['cpu_ms']:10.1f} {pc if pc else float('nan'):10.1f} {cr:>7s}")
mem = json.load(open(f"{d}/mem.json"))
for k, v in h.items():
    if "footprint_mb" in v:
        print(f"memory of one step (MB) {k}: hinge arena {v['footprint_mb']:.1f}, hinge live "
              f"{v['peak_mb']:.1f}, torch {mem.get(k, {}).get('peak_mb', float('nan')):.1f}")
print("hinge:", h.get("_hinge"), "\npeer:", p.get("_peer"))
PY
rm -rf "$tmp"
