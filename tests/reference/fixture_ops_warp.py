"""Fixtures for the geometry and loss ops (tests/test_warp.cpp, tests/test_loss.cpp).

Everything is computed in float64 with torch autograd for the gradients:
  * pose_vec2mat (Euler R = Rx Ry Rz and the quaternion (1, rx, ry, rz)/norm), values and gradients;
  * inverse_warp two ways, which must agree here before anything is written:
      - "gs": the PyTorch port's route: normalised coordinates and F.grid_sample(align_corners=True),
        zeros padding with out-of-view coordinates pushed far outside (the whole sample is 0),
        border padding as grid_sample's own;
      - "own": a from-the-description re-implementation with an explicit bilinear gather;
    both paddings x both rotation modes, outputs, validity, and gradients w.r.t. src, depth, pose;
  * the photometric term (sum over sources of mean |tgt - warp(src)| * mask * validity-or-1),
    both ways of treating out-of-view pixels, gradients w.r.t. depth, poses, mask;
  * the smoothness loss (the port's gradient() applied twice), the explainability loss
    (binary_cross_entropy against ones) and its 2-class softmax form, the softmax mask.

Usage: fixture_ops_warp.py --out DIR  (writes DIR/ops_warp.safetensors; --full is ignored).
"""
import argparse
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402

torch.set_default_dtype(torch.float64)
MIN_Z = 1e-3


# ---------------------------------------------------------------- rotations
def rot_euler(r):
    """R = Rx(r0) @ Ry(r1) @ Rz(r2), right-handed elementary rotations; r [N,3] -> [N,3,3]."""
    c, s = torch.cos(r), torch.sin(r)
    o, z = torch.ones_like(r[:, 0]), torch.zeros_like(r[:, 0])
    rx = torch.stack([o, z, z, z, c[:, 0], -s[:, 0], z, s[:, 0], c[:, 0]], 1).view(-1, 3, 3)
    ry = torch.stack([c[:, 1], z, s[:, 1], z, o, z, -s[:, 1], z, c[:, 1]], 1).view(-1, 3, 3)
    rz = torch.stack([c[:, 2], -s[:, 2], z, s[:, 2], c[:, 2], z, z, z, o], 1).view(-1, 3, 3)
    return rx @ ry @ rz


def rot_quat(r):
    """Rotation of the unit quaternion (1, r0, r1, r2)/norm; r [N,3] -> [N,3,3]."""
    q = torch.cat([torch.ones_like(r[:, :1]), r], 1)
    q = q / q.norm(dim=1, keepdim=True)
    w, x, y, z = q.unbind(1)
    return torch.stack([
        w * w + x * x - y * y - z * z, 2 * (x * y - w * z), 2 * (w * y + x * z),
        2 * (w * z + x * y), w * w - x * x + y * y - z * z, 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (w * x + y * z), w * w - x * x - y * y + z * z], 1).view(-1, 3, 3)


def pose_vec2mat(pose, mode):
    rot = rot_euler(pose[:, 3:]) if mode == "euler" else rot_quat(pose[:, 3:])
    return torch.cat([rot, pose[:, :3, None]], 2)


# ---------------------------------------------------------------- projection
def project(depth, pose, K, mode):
    """Source pixel coordinates (u, v), each [B, H*W], of every target pixel centre."""
    B, _, H, W = depth.shape
    ys, xs = torch.meshgrid(torch.arange(H, dtype=depth.dtype), torch.arange(W, dtype=depth.dtype), indexing="ij")
    pix = torch.stack([xs.reshape(-1), ys.reshape(-1), torch.ones(H * W)], 0)  # [3, HW]
    cam = (torch.linalg.inv(K) @ pix) * depth.reshape(B, 1, H * W)  # X = d K^-1 p
    Rt = pose_vec2mat(pose, mode)
    p = K @ (Rt[:, :, :3] @ cam + Rt[:, :, 3:])  # K (R X + t)
    z = p[:, 2].clamp(min=MIN_Z)
    return p[:, 0] / z, p[:, 1] / z


def in_view(u, v, H, W):
    return (u >= 0) & (u <= W - 1) & (v >= 0) & (v <= H - 1)


def warp_grid_sample(src, depth, pose, K, mode, padding):
    B, C, H, W = src.shape
    u, v = project(depth, pose, K, mode)
    xn = 2 * u / (W - 1) - 1
    yn = 2 * v / (H - 1) - 1
    if padding == "zeros":  # push an out-of-range coordinate far outside: the whole sample is 0
        far = torch.full_like(xn, 5.0)
        xn = torch.where((xn > 1) | (xn < -1), far, xn)
        yn = torch.where((yn > 1) | (yn < -1), far, yn)
    grid = torch.stack([xn, yn], -1).view(B, H, W, 2)
    out = F.grid_sample(src, grid, mode="bilinear", padding_mode=padding, align_corners=True)
    return out, in_view(u, v, H, W).view(B, 1, H, W).to(src.dtype)


def warp_own(src, depth, pose, K, mode, padding):
    """Explicit bilinear gather from the op's description."""
    B, C, H, W = src.shape
    u, v = project(depth, pose, K, mode)
    valid = in_view(u, v, H, W)
    if padding == "border":
        uc, vc = u.clamp(0, W - 1), v.clamp(0, H - 1)
    else:  # evaluate at a safe place where out of view, zeroed below
        uc, vc = torch.where(valid, u, torch.zeros_like(u)), torch.where(valid, v, torch.zeros_like(v))
    x0, y0 = uc.detach().floor(), vc.detach().floor()
    fx, fy = uc - x0, vc - y0
    x0, y0 = x0.long(), y0.long()
    flat = src.reshape(B, C, H * W)
    out = 0
    for dx, wx in ((0, 1 - fx), (1, fx)):
        for dy, wy in ((0, 1 - fy), (1, fy)):
            xi, yi = x0 + dx, y0 + dy
            inside = ((xi <= W - 1) & (yi <= H - 1)).to(src.dtype)  # taps beyond the last row/column read 0
            idx = (yi.clamp(max=H - 1) * W + xi.clamp(max=W - 1))[:, None, :].expand(B, C, H * W)
            out = out + (wx * wy * inside)[:, None, :] * torch.gather(flat, 2, idx)
    if padding == "zeros":
        out = out * valid[:, None, :].to(src.dtype)
    return out.view(B, C, H, W), valid.view(B, 1, H, W).to(src.dtype)


def make_K(B, H, W):
    K = torch.zeros(B, 3, 3)
    for b in range(B):
        K[b] = torch.tensor([[0.8 * W + 0.3 * b, 0.0, W / 2 - 0.4 + 0.1 * b],
                             [0.0, 1.0 * H - 0.2 * b, H / 2 - 0.3],
                             [0.0, 0.0, 1.0]])
    return K


def grads(loss, inputs):
    gs = torch.autograd.grad(loss, inputs, allow_unused=True)
    return [torch.zeros_like(i) if g is None else g for g, i in zip(gs, inputs)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--full", action="store_true", help="ignored (the fixture is small)")
    args = ap.parse_args()
    g = torch.Generator().manual_seed(20170721)

    def uni(shape, lo, hi):
        return lo + (hi - lo) * torch.rand(shape, generator=g)

    out = {}
    # ---- pose_vec2mat: larger angles than training produces, to exercise every term
    pose = uni((4, 6), -1.0, 1.0)
    gout = uni((4, 3, 4), -1.0, 1.0)
    out["p2m.pose"], out["p2m.gout"] = pose, gout
    for mode in ("euler", "quat"):
        p = pose.clone().requires_grad_(True)
        m = pose_vec2mat(p, mode)
        out[f"p2m.{mode}"] = m.detach()
        out[f"p2m.{mode}.grad"] = grads((m * gout).sum(), [p])[0]

    # ---- inverse_warp: B=2, C=3, 6x9; shifts of up to ~2 px push the border pixels out of view
    B, C, H, W = 2, 3, 6, 9
    src = uni((B, C, H, W), 0.0, 1.0)
    depth = uni((B, 1, H, W), 1.0, 4.0)
    pose = torch.cat([uni((B, 3), -0.25, 0.25), uni((B, 3), -0.15, 0.15)], 1)
    K = make_K(B, H, W)
    gw = uni((B, C, H, W), -1.0, 1.0)
    out.update({"warp.src": src, "warp.depth": depth, "warp.pose": pose, "warp.K": K, "warp.gout": gw})
    for padding in ("zeros", "border"):
        for mode in ("euler", "quat"):
            ins = [t.clone().requires_grad_(True) for t in (src, depth, pose)]
            a, va = warp_grid_sample(*ins, K, mode, padding)
            ga = grads((a * gw).sum(), ins)
            ins2 = [t.clone().requires_grad_(True) for t in (src, depth, pose)]
            b, vb = warp_own(*ins2, K, mode, padding)
            gb = grads((b * gw).sum(), ins2)
            assert torch.allclose(a, b, rtol=0, atol=1e-12), (padding, mode, (a - b).abs().max())
            assert torch.equal(va, vb)
            for x, y in zip(ga, gb):
                assert torch.allclose(x, y, rtol=0, atol=1e-10), (padding, mode, (x - y).abs().max())
            frac = va.mean().item()
            assert 0.5 < frac < 1.0, f"want some pixels out of view and most in, got {frac}"
            key = f"warp.{padding}.{mode}"
            out[key + ".out"], out[key + ".valid"] = a.detach(), va
            out[key + ".grad_src"], out[key + ".grad_depth"], out[key + ".grad_pose"] = ga

    # ---- photometric term: B=2, S=2 sources
    S = 2
    tgt = uni((B, C, H, W), 0.0, 1.0)
    srcs = uni((B, S, C, H, W), 0.0, 1.0)
    poses = torch.cat([uni((B, S, 3), -0.25, 0.25), uni((B, S, 3), -0.15, 0.15)], 2)
    mask = uni((B, S, H, W), 0.05, 0.95)
    out.update({"photo.tgt": tgt, "photo.srcs": srcs, "photo.depth": depth, "photo.poses": poses,
                "photo.K": K, "photo.mask": mask})
    configs = {  # name: (padding, rotation, keep_out_of_view, use_mask)
        "zeros_euler_keep_mask": ("zeros", "euler", True, True),
        "zeros_euler_drop_mask": ("zeros", "euler", False, True),
        "border_quat_drop_nomask": ("border", "quat", False, False),
        "border_euler_keep_mask": ("border", "euler", True, True),
    }
    for name, (padding, mode, keep, use_mask) in configs.items():
        d = depth.clone().requires_grad_(True)
        p = poses.clone().requires_grad_(True)
        mk = mask.clone().requires_grad_(True)
        loss = 0
        for s in range(S):
            warped, valid = warp_grid_sample(srcs[:, s], d, p[:, s], K, mode, padding)
            diff = tgt - warped
            if not keep:
                diff = diff * valid
            if use_mask:
                diff = diff * mk[:, s:s + 1]
            loss = loss + diff.abs().mean()
        gd, gp, gm = grads(loss, [d, p, mk])
        key = f"photo.{name}"
        out[key + ".loss"] = loss.detach().view(1)
        out[key + ".grad_depth"], out[key + ".grad_poses"] = gd, gp
        if use_mask:
            out[key + ".grad_mask"] = gm

    # ---- smoothness: the port's gradient() twice, 4 means
    x = uni((2, 2, 7, 9), -1.0, 1.0).requires_grad_(True)

    def gradient(t):
        return t[:, :, :, 1:] - t[:, :, :, :-1], t[:, :, 1:] - t[:, :, :-1]  # (D_dx, D_dy)

    dx, dy = gradient(x)
    dx2, dxdy = gradient(dx)
    dydx, dy2 = gradient(dy)
    sl = dx2.abs().mean() + dxdy.abs().mean() + dydx.abs().mean() + dy2.abs().mean()
    out["smooth.x"], out["smooth.loss"] = x.detach(), sl.detach().view(1)
    out["smooth.grad"] = grads(sl, [x])[0]

    # ---- explainability (sigmoid mask): binary cross-entropy against ones
    m = uni((2, 2, 6, 9), 0.02, 0.98).requires_grad_(True)
    el = F.binary_cross_entropy(m, torch.ones_like(m))
    out["explain.mask"], out["explain.loss"], out["explain.grad"] = m.detach(), el.detach().view(1), grads(el, [m])[0]
    mz = uni((1, 2, 3, 4), 0.0, 1.0)
    mz.view(-1)[[0, 5, 11]] = 0.0  # log clamped at -100
    mz.view(-1)[[3, 7]] = 1.0
    out["explain.mask_edge"] = mz
    out["explain.loss_edge"] = F.binary_cross_entropy(mz, torch.ones_like(mz)).view(1)

    # ---- explainability (2-class softmax per source): cross-entropy against class 1
    logits = (3.0 * torch.randn((2, 4, 6, 9), generator=g)).requires_grad_(True)
    lp = F.log_softmax(logits.view(2, 2, 2, 6, 9), dim=2)  # [B, S, 2, H, W]
    ce = -lp[:, :, 1].mean()
    out["softmax.logits"], out["softmax.loss"] = logits.detach(), ce.detach().view(1)
    out["softmax.grad"] = grads(ce, [logits])[0]
    sm = F.softmax(logits.view(2, 2, 2, 6, 9), dim=2)[:, :, 1]
    gm = uni(sm.shape, -1.0, 1.0)
    out["softmax.mask"], out["softmax.mask_gout"] = sm.detach(), gm
    out["softmax.mask_grad"] = grads((sm * gm).sum(), [logits])[0]

    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "ops_warp.safetensors")
    st.save(path, out, metadata={"generator": "tests/reference/fixture_ops_warp.py", "torch": torch.__version__,
                                 "dtype": "float64"})
    print(f"wrote {path} ({os.path.getsize(path)} bytes, {len(out)} tensors)")


if __name__ == "__main__":
    main()
