"""Fixture for min_reprojection_loss (tests/test_min_reprojection.cpp): Monodepth2's photometric
objective, written here from its formulas (not from Monodepth2's code), in float64 with torch
autograd for the gradients:
  * warp: the PyTorch port's route of fixture_ops_warp.py (F.grid_sample, align_corners=True;
    zeros padding with out-of-view samples 0 as a whole, or border padding);
  * SSIM over 3x3 windows: reflection padding, average pooling of mu_x, mu_y, sigma_x = E[x^2] - mu_x^2,
    sigma_y, sigma_xy = E[xy] - mu_x mu_y; C1 = 0.01^2, C2 = 0.03^2;
    SSIM = ((2 mu_x mu_y + C1)(2 sigma_xy + C2)) / ((mu_x^2 + mu_y^2 + C1)(sigma_x + sigma_y + C2));
  * pe = mean over channels of alpha clamp((1 - SSIM)/2, 0, 1) + (1 - alpha) |tgt - warped|, alpha = 0.85
    (L1 only: mean over channels of |tgt - warped|);
  * per pixel the minimum over sources (or their mean); with automask the unwarped sources'
    errors + amplitude * N(0,1) noise join the minimum, placed first so that they win ties;
    the loss is the mean over B*H*W of the selected values; chosen codes: s (warped source s),
    S (the mean of the sources), -(j+1) (unwarped source j);
  * the noise: the engine's counter-based hash (boundary/math/min_reprojection_math.h, its
    description re-implemented here): splitmix64 finalisers over (seed, b, s, pixel), two 53-bit
    uniforms u1 in (0, 1], u2 in [0, 1), z = sqrt(-2 ln u1) cos(2 pi u2).
The scene is drawn so that no pixel is near a kink (projected coordinates 2e-3 px from an
integer, |tgt - warped| >= 1e-3, the two smallest candidates of every case >= 1e-4 apart), and
every value is float32-representable (the C++ test also runs in float32).

Usage: fixture_min_reprojection.py --out DIR  (writes DIR/min_reprojection.safetensors).
"""
import argparse
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import st  # noqa: E402
from fixture_ops_warp import project, warp_grid_sample  # noqa: E402

torch.set_default_dtype(torch.float64)
C1, C2 = 0.01 ** 2, 0.03 ** 2
ALPHA = 0.85
M64 = (1 << 64) - 1
NOISE_SEED = 99

# name: (use_ssim, min over sources, automask, padding, rotation, noise amplitude)
CASES = {
    "monodepth2": (True, True, True, "border", "euler", 0.0),
    "monodepth2_noise": (True, True, True, "border", "euler", 0.02),
    "min_no_automask": (True, True, False, "border", "quat", 0.0),
    "mean_automask_zeros": (True, False, True, "zeros", "euler", 0.0),
    "mean_l1_zeros": (False, False, False, "zeros", "quat", 0.0),
    "min_l1_automask": (False, True, True, "border", "euler", 0.0),
}


def mix(z):
    z = (z + 0x9E3779B97F4A7C15) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def noise(seed, b, s, pixel):
    h = mix(seed)
    h = mix(h ^ b)
    h = mix(h ^ s)
    h = mix(h ^ pixel)
    h2 = mix(h ^ 0x5851F42D4C957F2D)
    u1 = ((h >> 11) + 1) * 2.0 ** -53
    u2 = (h2 >> 11) * 2.0 ** -53
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(6.283185307179586476925286766559 * u2)


def noise_tensor(B, S, H, W, seed):
    return torch.tensor([[[noise(seed, b, s, p) for p in range(H * W)] for s in range(S)] for b in range(B)]).view(
        B, S, H, W)


def ssim_loss(x, y):
    """clamp((1 - SSIM)/2, 0, 1) per channel and pixel, 3x3 windows, reflection padding."""
    xp, yp = F.pad(x, (1, 1, 1, 1), mode="reflect"), F.pad(y, (1, 1, 1, 1), mode="reflect")
    pool = lambda t: F.avg_pool2d(t, 3, 1)  # noqa: E731
    mu_x, mu_y = pool(xp), pool(yp)
    sigma_x = pool(xp * xp) - mu_x ** 2
    sigma_y = pool(yp * yp) - mu_y ** 2
    sigma_xy = pool(xp * yp) - mu_x * mu_y
    n = (2 * mu_x * mu_y + C1) * (2 * sigma_xy + C2)
    d = (mu_x ** 2 + mu_y ** 2 + C1) * (sigma_x + sigma_y + C2)
    return torch.clamp((1 - n / d) / 2, 0, 1)


def pe(x, y, use_ssim):
    l1 = (x - y).abs()
    if not use_ssim:
        return l1.mean(1)
    return (ALPHA * ssim_loss(x, y) + (1 - ALPHA) * l1).mean(1)


def warp_all(srcs, depth, poses, K, mode, padding):
    return torch.stack([warp_grid_sample(srcs[:, s], depth, poses[:, s], K, mode, padding)[0]
                        for s in range(srcs.shape[1])], 1)


def candidates(tgt, srcs, depth, poses, K, case):
    """[B, n, H, W] candidates (unwarped first) and the code of each."""
    use_ssim, use_min, automask, padding, mode, amp = case
    B, S = srcs.shape[:2]
    H, W = tgt.shape[2:]
    warped = warp_all(srcs, depth, poses, K, mode, padding)
    rep = torch.stack([pe(tgt, warped[:, s], use_ssim) for s in range(S)], 1)
    codes = list(range(S))
    if not use_min:
        rep, codes = rep.mean(1, keepdim=True), [S]
    if automask:
        ident = torch.stack([pe(tgt, srcs[:, s], use_ssim) for s in range(S)], 1)
        ident = ident + amp * noise_tensor(B, S, H, W, NOISE_SEED)
        rep, codes = torch.cat([ident, rep], 1), [-(j + 1) for j in range(S)] + codes
    return rep, torch.tensor(codes, dtype=torch.float64), warped


def loss_of(tgt, srcs, depth, poses, K, case):
    cand, codes, _ = candidates(tgt, srcs, depth, poses, K, case)
    value, idx = torch.min(cand, 1)  # the gradient reaches the selected candidate only
    return value.mean(), codes[idx].unsqueeze(1)


def f32(t):
    return t.float().double()


def make_scene(g, B, S, C, H, W):
    def uni(shape, lo, hi):
        return f32(lo + (hi - lo) * torch.rand(shape, generator=g))

    tgt, srcs, depth = uni((B, C, H, W), 0, 1), uni((B, S, C, H, W), 0, 1), uni((B, 1, H, W), 1, 4)
    poses = torch.cat([uni((B, S, 3), -0.25, 0.25), uni((B, S, 3), -0.1, 0.1)], 2)
    K = torch.zeros(B, 3, 3)
    for b in range(B):
        f = 0.58 * W
        K[b] = torch.tensor([[f, 0, 0.5 * W], [0, 1.9 * f * H / W, 0.5 * H], [0, 0, 1]])
    K = f32(K)
    for _ in range(400):
        bad = 0
        for case in CASES.values():
            for s in range(S):
                u, v = project(depth, poses[:, s], K, case[4])
                near = ((u - u.round()).abs() < 2e-3) | ((v - v.round()).abs() < 2e-3)
                near = near.view(B, 1, H, W)
                bad += int(near.sum())
                depth = torch.where(near, uni((B, 1, H, W), 1, 4), depth)
        if bad:
            continue
        for case in CASES.values():
            cand, _, warped = candidates(tgt, srcs, depth, poses, K, case)
            top2 = cand.sort(1).values[:, :2]
            redraw = ((warped - tgt[:, None]).abs() < 1e-3).any(2).any(1)  # [B,H,W]
            if cand.shape[1] > 1:
                redraw |= (top2[:, 1] - top2[:, 0]) < 1e-4
            bad += int(redraw.sum())
            tgt = torch.where(redraw[:, None], uni((B, C, H, W), 0, 1), tgt)
        if bad == 0:
            return tgt, srcs, depth, poses, K
    raise RuntimeError("could not draw a kink-free scene")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--full", action="store_true", help="ignored (the fixture is small)")
    args = ap.parse_args()
    g = torch.Generator().manual_seed(20191027)
    B, S, C, H, W = 2, 2, 3, 6, 9
    tgt, srcs, depth, poses, K = make_scene(g, B, S, C, H, W)
    out = {"tgt": tgt, "srcs": srcs, "depth": depth, "poses": poses, "K": K}
    for name, case in CASES.items():
        d, p = depth.clone().requires_grad_(True), poses.clone().requires_grad_(True)
        loss, chosen = loss_of(tgt, srcs, d, p, K, case)
        gd, gp = torch.autograd.grad(loss, [d, p])
        out[f"{name}.loss"] = loss.detach().view(1)
        out[f"{name}.chosen"] = chosen
        out[f"{name}.grad_depth"] = gd
        out[f"{name}.grad_poses"] = gp
        print(f"{name}: loss {loss.item():.6f}, unwarped winners {int((chosen < 0).sum())} of {B * H * W}")
    os.makedirs(args.out, exist_ok=True)
    st.save(os.path.join(args.out, "min_reprojection.safetensors"), out,
            {"source": "tests/reference/fixture_min_reprojection.py"})


if __name__ == "__main__":
    main()
