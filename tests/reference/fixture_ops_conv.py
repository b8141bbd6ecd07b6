"""Fixtures for the convolution and resampling ops (tests/test_conv.cpp, tests/test_resample.cpp).

Each case stores float32 inputs and PyTorch's outputs and gradients computed in float64 from
exactly those float32 values, so a C++ test can check its float64 path tightly and its float32
path against a reference with no float32 rounding of its own:
  * conv2d/<i>:           F.conv2d (+ ReLU / sigmoid), several kernels, strides, paddings,
                           1x1 images and kernels, with and without bias;
  * conv_transpose2d/<i>: F.conv_transpose2d, incl. output_padding (k3 s2 p1 op1 as DispNet,
                           k4 s2 p1 as PoseExpNet);
  * upsample/<i>:         F.interpolate(scale_factor=2, mode="bilinear", align_corners=False);
  * area/<i>:             F.adaptive_avg_pool2d (= F.interpolate(mode="area")), integer factors
                           and arbitrary sizes (overlapping bins, enlarging).
Keys: <case>/x, /w, /b (conv only; absent without bias), /y (output), /gy (the output
gradient), /gx, /gw, /gb (gradients of sum(y * gy)), /params (float: conv: stride, padding,
act (0 none, 1 relu, 2 sigmoid), output_padding; resample: out h, out w).

Usage: fixture_ops_conv.py --out DIR  (writes DIR/ops_conv.safetensors; --full is ignored).
"""
import argparse
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402

ACTS = {0: lambda v: v, 1: torch.relu, 2: torch.sigmoid}

# (N, C, H, W, O, k, stride, padding, act, bias)
CONV = [
    (2, 3, 13, 15, 8, 7, 2, 3, 1, True),   # DispNet conv1a-like, odd sizes
    (1, 8, 7, 8, 16, 5, 2, 2, 0, True),
    (2, 8, 4, 5, 12, 3, 1, 1, 2, False),
    (1, 4, 1, 1, 6, 3, 2, 1, 1, True),     # 1x1 image
    (2, 5, 9, 6, 3, 1, 1, 0, 0, True),     # 1x1 kernel
    (1, 6, 10, 11, 4, 4, 2, 1, 1, False),  # even kernel
    (1, 3, 6, 6, 2, 3, 1, 3, 0, True),     # padding larger than k/2
    (1, 8, 12, 16, 12, 3, 2, 1, 1, True),
]
# (N, C, H, W, O, k, stride, padding, output_padding, act, bias)
CONVT = [
    (2, 8, 4, 7, 4, 3, 2, 1, 1, 1, True),  # DispNet upconv
    (1, 8, 4, 5, 6, 4, 2, 1, 0, 1, True),  # PoseExpNet upconv
    (1, 4, 1, 1, 3, 3, 2, 1, 1, 0, True),  # 1x1 input
    (2, 3, 5, 4, 2, 3, 1, 1, 0, 2, False),
    (1, 2, 3, 3, 3, 5, 2, 2, 1, 0, True),
    (1, 4, 2, 3, 2, 7, 2, 3, 1, 1, False),
]
UPSAMPLE = [(2, 3, 4, 5), (1, 1, 1, 1), (1, 2, 1, 3), (1, 1, 13, 7)]
# (shape, out h, out w)
AREA = [((2, 3, 8, 6), 4, 3), ((1, 2, 8, 12), 2, 3), ((1, 2, 7, 9), 3, 4), ((1, 1, 5, 5), 2, 3),
        ((1, 1, 3, 4), 5, 7), ((2, 1, 6, 10), 1, 1)]


def f32(t):
    """A float32 tensor's values, held in float64 (what the fixture stores and computes from)."""
    return t.float().double()


def run_case(out, key, fn, inputs, params):
    """Stores inputs (float32), y = fn(*inputs) and the gradients of sum(y * gy) (float64)."""
    xs = {k: f32(v).requires_grad_(True) for k, v in inputs.items()}
    y = fn(**xs)
    gy = f32(torch.rand_like(y) * 2 - 1)
    (y * gy).sum().backward()
    for k, v in xs.items():
        out[f"{key}/{k}"] = v.detach().float()
        out[f"{key}/g{k}"] = v.grad
    out[f"{key}/y"] = y.detach()
    out[f"{key}/gy"] = gy.float()
    out[f"{key}/params"] = torch.tensor(params, dtype=torch.float32)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--full", action="store_true", help="ignored")
    args = ap.parse_args()
    torch.manual_seed(0)
    out = {}
    for i, (n, c, h, w, o, k, s, p, act, bias) in enumerate(CONV):
        inputs = {"x": torch.randn(n, c, h, w), "w": torch.randn(o, c, k, k) / (c * k * k) ** 0.5}
        if bias:
            inputs["b"] = torch.randn(o) * 0.1

        def fn(x, w, b=None, s=s, p=p, act=act):
            return ACTS[act](F.conv2d(x, w, b, stride=s, padding=p))
        run_case(out, f"conv2d/{i}", fn, inputs, [s, p, act, 0])
    for i, (n, c, h, w, o, k, s, p, op, act, bias) in enumerate(CONVT):
        inputs = {"x": torch.randn(n, c, h, w), "w": torch.randn(c, o, k, k) / (c * k * k) ** 0.5}
        if bias:
            inputs["b"] = torch.randn(o) * 0.1

        def fn(x, w, b=None, s=s, p=p, op=op, act=act):
            return ACTS[act](F.conv_transpose2d(x, w, b, stride=s, padding=p, output_padding=op))
        run_case(out, f"conv_transpose2d/{i}", fn, inputs, [s, p, act, op])
    for i, shape in enumerate(UPSAMPLE):
        run_case(out, f"upsample/{i}",
                 lambda x: F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False),
                 {"x": torch.randn(*shape)}, [2 * shape[2], 2 * shape[3]])
    for i, (shape, h, w) in enumerate(AREA):
        def fn(x, h=h, w=w):
            y = F.adaptive_avg_pool2d(x, (h, w))
            assert torch.allclose(y, F.interpolate(x, size=(h, w), mode="area"))
            return y
        run_case(out, f"area/{i}", fn, {"x": torch.randn(*shape)}, [h, w])
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "ops_conv.safetensors")
    st.save(path, out, metadata={"generator": "tests/reference/fixture_ops_conv.py", "torch": torch.__version__})
    print(f"wrote {path} ({os.path.getsize(path)} bytes, {len(out)} tensors)")


if __name__ == "__main__":
    main()
