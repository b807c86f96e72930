#!/usr/bin/env bash
# 3-D U-Net: hinge (bench/unet3d_bench.c) and PyTorch (bench/unet3d_torch.py), same model and
# settings, one after the other, ROUNDS times (default 2), with the speed ratio
# (torch / hinge: > 1 means hinge is faster), for wall time and for process CPU time (the
# latter is less disturbed by other jobs on a shared machine). Extra arguments go to both programs
# (--features F --patch P --window W --repeat N --only train|infer).
# --check: after the table, prints each ratio target with PASS/MISS from the CPU-time ratio of
# the slowest round (issue 6: 3-D training and inference at least as fast as PyTorch, >= 1x;
# issue 7: 3-D training >= 2x; every 3-D conv layer pass on the dispatched path >= 50% of SGEMM,
# via bench/bench_conv.c) and exits 1 when one is missed.
# Usage: bench/unet3d_compare.sh [build dir] [args...]; THREADS (default 2), ROUNDS.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}; shift || true
threads=${THREADS:-2}
rounds=${ROUNDS:-2}
check=0
args=()
for a in "$@"; do
  if [ "$a" = --check ]; then check=1; else args+=("$a"); fi
done
set -- ${args[@]+"${args[@]}"}
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
status=0
/usr/bin/python3 - "$tmp" "$rounds" "$check" <<'PY' || status=1
import json, sys
d, rounds, check = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
worst = {}
print(f"{'round':6s} {'workload':32s} {'hinge ms':>10s} {'torch ms':>10s} {'ratio':>7s}"
      f" {'hinge cpu':>10s} {'torch cpu':>10s} {'ratio':>7s}")
for r in range(1, rounds + 1):
    h = json.load(open(f"{d}/h{r}.json")); p = json.load(open(f"{d}/p{r}.json"))
    for k, v in h.items():
        if k.startswith("_"): continue
        pm, pc = p.get(k, {}).get("ms"), p.get(k, {}).get("cpu_ms")
        ratio = f"{pm / v['ms']:.2f}x" if pm else "-"
        cr = f"{pc / v['cpu_ms']:.2f}x" if pc else "-"
        if pc:
            worst[k] = min(worst.get(k, 1e9), pc / v["cpu_ms"])
        print(f"{r:<6d} {k:32s} {v['ms']:10.1f} {pm if pm else float('nan'):10.1f} {ratio:>7s}"
              f" {v['cpu_ms']:10.1f} {pc if pc else float('nan'):10.1f} {cr:>7s}")
mem = json.load(open(f"{d}/mem.json"))
for k, v in h.items():
    if "footprint_mb" in v:
        print(f"memory of one step (MB) {k}: hinge arena {v['footprint_mb']:.1f}, hinge live "
              f"{v['peak_mb']:.1f}, torch {mem.get(k, {}).get('peak_mb', float('nan')):.1f}")
print("hinge:", h.get("_hinge"), "\npeer:", p.get("_peer"))
miss = 0
if check:
    for k, r in worst.items():
        targets = [(1.0, "issue 6")] + ([(2.0, "issue 7")] if "train" in k else [])
        for t, issue in targets:
            ok = r >= t
            miss += not ok
            print(f"check {k}: CPU ratio (slowest round) {r:.2f}x, {issue} target >= {t:g}x: "
                  f"{'PASS' if ok else 'MISS'}")
sys.exit(1 if miss else 0)
PY
if [ $check = 1 ]; then
  bc=$build/bench_conv
  if [ ! -x "$bc" ] || [ "$bc" -ot bench/bench_conv.c ] || [ "$bc" -ot "$build/libhinge.so" ]; then
    gcc -O2 -fopenmp -Iinclude -Isrc bench/bench_conv.c -o "$bc" -L"$build" -lhinge \
      -Wl,-rpath,"$(cd "$build" && pwd)" $(pkg-config --libs openblas) -lm
  fi
  "$bc" --threads "$threads" --paths auto --only unet3d --check | grep -E "MISS|PASS|SGEMM" || status=1
  if [ $status = 0 ]; then echo "check: PASS"; else echo "check: MISS"; fi
fi
rm -rf "$tmp"
exit $status
