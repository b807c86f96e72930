"""PyTorch side of bench/onnx_unet_bench.sh: builds the 2-D U-Net of the ONNX fixtures
(tools/fixtures/make_onnx_fixtures.py UNet2d: conv-BN-ReLU blocks, max pools, a transposed
conv, bilinear up-sampling, softmax) at width C, exports it (opset 13, eval), writes the input
and PyTorch's output as raw float32, and times PyTorch's forward (best and median of N).
Usage: onnx_unet_peer.py OUTDIR WIDTH SIZE REPEATS THREADS"""
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tools", "fixtures"))
from make_onnx_fixtures import UNet2d, randomize_bn  # noqa: E402

out, width, size, n, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
torch.set_num_threads(threads)
torch.manual_seed(0)
os.makedirs(out, exist_ok=True)
m = randomize_bn(UNet2d(width)).eval()
x = torch.randn(1, 1, size, size)
torch.onnx.export(m, (x,), os.path.join(out, "unet2d.onnx"), opset_version=13,
                  input_names=["x0"], output_names=["y"], do_constant_folding=True)
x.numpy().astype("<f4").tofile(os.path.join(out, "x.f32"))
times = []
with torch.no_grad():
    y = m(x)
    for _ in range(n):
        t0 = time.perf_counter()
        y = m(x)
        times.append((time.perf_counter() - t0) * 1e3)
y.numpy().astype("<f4").tofile(os.path.join(out, "y.f32"))
print(json.dumps({"best_ms": round(min(times), 1), "median_ms": round(float(np.median(times)), 1),
                  "params": sum(p.numel() for p in m.parameters()),
                  "peer": "torch %s, %d threads" % (torch.__version__, threads)}))
