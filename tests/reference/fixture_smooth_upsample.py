"""Fixtures for upsample_bilinear and edge_aware_smoothness (tests/test_smooth_upsample.cpp).

Everything in float64, gradients by torch autograd:
  * upsample_bilinear: two ways, which must agree here before anything is written:
      - "interp": F.interpolate(x, size=(H, W), mode="bilinear", align_corners=False), what
        Monodepth2 calls to bring each disparity scale to the input size;
      - "own": the rule written out as an explicit gather (source coordinate
        (h/H)(o + 0.5) - 0.5 clamped below at 0, i0 = floor, i1 = min(i0 + 1, h - 1));
    upsampling by non-integer and integer (8x) factors and a downsampling; values and the
    gradient for a random upstream gradient;
  * edge_aware_smoothness: Monodepth2's get_smooth_loss on the mean-normalised disparity
    (disp / (mean_hw(disp) + 1e-7)), written from its formula with tensor slices, checked here
    against a plain double loop of the same formula; value and gradient w.r.t. disp.
    Disparities are multiples of 1/64 (no neighbour within rounding of another: the |.| kinks).

Usage: fixture_smooth_upsample.py --out DIR  (writes DIR/smooth_upsample.safetensors; --full is ignored).
"""
import argparse
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402

torch.set_default_dtype(torch.float64)

UPSAMPLE_CASES = [  # name, input shape, output size
    ("frac", (2, 3, 5, 7), (12, 9)),
    ("x8", (2, 1, 4, 6), (32, 48)),
    ("down", (1, 2, 9, 13), (4, 6)),
    ("row", (3, 1, 1, 4), (3, 5)),
]
SMOOTH_CASES = [  # name, B, C, H, W
    ("rgb", 3, 3, 9, 11),
    ("gray", 2, 1, 6, 5),
]


def own_upsample(x, H, W):
    """Bilinear resize as an explicit gather from the rule (align_corners=False)."""
    N, C, h, w = x.shape

    def taps(n_out, n_in):
        scale = n_in / n_out
        i0s, i1s, l1s = [], [], []
        for o in range(n_out):
            src = max(scale * (o + 0.5) - 0.5, 0.0)
            i0 = min(int(math.floor(src)), n_in - 1)
            i1 = min(i0 + 1, n_in - 1)
            i0s.append(i0), i1s.append(i1), l1s.append(src - i0)
        return torch.tensor(i0s), torch.tensor(i1s), torch.tensor(l1s)

    y0, y1, ly = taps(H, h)
    x0, x1, lx = taps(W, w)
    ly, lx = ly.view(1, 1, H, 1), lx.view(1, 1, 1, W)
    top = x[:, :, y0][:, :, :, x0] * (1 - lx) + x[:, :, y0][:, :, :, x1] * lx
    bot = x[:, :, y1][:, :, :, x0] * (1 - lx) + x[:, :, y1][:, :, :, x1] * lx
    return top * (1 - ly) + bot * ly


def get_smooth_loss(disp, img):
    """Monodepth2's edge-aware smoothness (the formula: first differences weighted by exp(-mean_c |dI|))."""
    grad_disp_x = torch.abs(disp[:, :, :, :-1] - disp[:, :, :, 1:])
    grad_disp_y = torch.abs(disp[:, :, :-1, :] - disp[:, :, 1:, :])
    grad_img_x = torch.mean(torch.abs(img[:, :, :, :-1] - img[:, :, :, 1:]), 1, keepdim=True)
    grad_img_y = torch.mean(torch.abs(img[:, :, :-1, :] - img[:, :, 1:, :]), 1, keepdim=True)
    return (grad_disp_x * torch.exp(-grad_img_x)).mean() + (grad_disp_y * torch.exp(-grad_img_y)).mean()


def edge_aware_smoothness(disp, img):
    mean_disp = disp.mean(2, True).mean(3, True)
    return get_smooth_loss(disp / (mean_disp + 1e-7), img)


def loop_smoothness(disp, img):
    """The same formula as plain loops over Python floats."""
    B, _, H, W = disp.shape
    C = img.shape[1]
    d, im = disp.tolist(), img.tolist()
    sx = sy = 0.0
    for b in range(B):
        m = sum(sum(r) for r in d[b][0]) / (H * W) + 1e-7
        n = [[v / m for v in r] for r in d[b][0]]
        for y in range(H):
            for x in range(W):
                if x + 1 < W:
                    g = sum(abs(im[b][c][y][x] - im[b][c][y][x + 1]) for c in range(C)) / C
                    sx += abs(n[y][x] - n[y][x + 1]) * math.exp(-g)
                if y + 1 < H:
                    g = sum(abs(im[b][c][y][x] - im[b][c][y + 1][x]) for c in range(C)) / C
                    sy += abs(n[y][x] - n[y + 1][x]) * math.exp(-g)
    return sx / (B * H * (W - 1)) + sy / (B * (H - 1) * W)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--full", action="store_true")
    args = ap.parse_args()
    g = torch.Generator().manual_seed(20190415)

    def uni(shape, lo, hi):
        return lo + (hi - lo) * torch.rand(shape, generator=g)

    out = {}
    for name, shape, (H, W) in UPSAMPLE_CASES:
        x = uni(shape, -1.0, 1.0).requires_grad_(True)
        y = F.interpolate(x, size=(H, W), mode="bilinear", align_corners=False)
        y_own = own_upsample(x, H, W)
        assert y.shape == (shape[0], shape[1], H, W)
        assert (y - y_own).abs().max().item() < 1e-12, name
        gout = uni(y.shape, -1.0, 1.0)
        (gx,) = torch.autograd.grad((y * gout).sum(), [x])
        (gx_own,) = torch.autograd.grad((y_own * gout).sum(), [x])
        assert (gx - gx_own).abs().max().item() < 1e-12, name
        p = f"upsample.{name}."
        out[p + "x"], out[p + "y"], out[p + "gout"], out[p + "grad"] = x.detach(), y.detach(), gout, gx

    for name, B, C, H, W in SMOOTH_CASES:
        disp = (torch.randint(1, 65, (B, 1, H, W), generator=g).double() / 64).requires_grad_(True)
        img = uni((B, C, H, W), 0.0, 1.0)
        loss = edge_aware_smoothness(disp, img)
        ref = loop_smoothness(disp.detach(), img)
        assert abs(loss.item() - ref) < 1e-12 * abs(ref), name
        (gd,) = torch.autograd.grad(loss, [disp])
        p = f"smooth.{name}."
        out[p + "disp"], out[p + "img"], out[p + "loss"], out[p + "grad"] = disp.detach(), img, loss.detach().view(1), gd

    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "smooth_upsample.safetensors")
    st.save(path, out, metadata={"generator": "tests/reference/fixture_smooth_upsample.py", "torch": torch.__version__,
                                 "dtype": "float64"})
    print(f"wrote {path} ({os.path.getsize(path)} bytes, {len(out)} tensors)")


if __name__ == "__main__":
    main()
