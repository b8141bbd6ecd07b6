"""PyTorch reference of SfMLearner (networks + loss), written for sfm-engine from the design
description. It is the oracle the C++ parity tests compare against. Parameter names and
layouts follow the widely used PyTorch port, so state dicts move between the two."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def _conv_relu(cin, cout, k, stride=1):
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride=stride, padding=(k - 1) // 2), nn.ReLU(inplace=False))


def _enc_block(cin, cout, k):
    # conv k s2 + ReLU, conv k + ReLU  -> names .0 and .2
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride=2, padding=(k - 1) // 2), nn.ReLU(),
                         nn.Conv2d(cout, cout, k, padding=(k - 1) // 2), nn.ReLU())


def _crop_to(x, ref):
    return x[:, :, :ref.size(2), :ref.size(3)]


class DispNet(nn.Module):
    ENC = [32, 64, 128, 256, 512, 512, 512]
    ENC_K = [7, 5, 3, 3, 3, 3, 3]
    DEC = [512, 512, 256, 128, 64, 32, 16]  # upconv7 .. upconv1

    def __init__(self):
        super().__init__()
        cin = 3
        for i, (c, k) in enumerate(zip(self.ENC, self.ENC_K)):
            setattr(self, f"conv{i + 1}", _enc_block(cin, c, k))
            cin = c
        prev = self.ENC[-1]
        for i, c in enumerate(self.DEC):
            level = 7 - i
            setattr(self, f"upconv{level}", nn.Sequential(
                nn.ConvTranspose2d(prev, c, 3, stride=2, padding=1, output_padding=1), nn.ReLU()))
            skip = self.ENC[level - 2] if level >= 2 else 0
            extra = 1 if level <= 3 else 0
            setattr(self, f"iconv{level}", _conv_relu(c + skip + extra, c, 3))
            prev = c
        for level in (4, 3, 2, 1):
            setattr(self, f"predict_disp{level}", nn.Sequential(
                nn.Conv2d(self.DEC[7 - level], 1, 3, padding=1), nn.Sigmoid()))

    def forward(self, x):
        enc, h = [], x
        for i in range(7):
            h = getattr(self, f"conv{i + 1}")(h)
            enc.append(h)
        disps, prev = [], None
        for i in range(7):
            level = 7 - i
            skip = enc[level - 2] if level >= 2 else x
            up = _crop_to(getattr(self, f"upconv{level}")(h), skip)
            parts = [up]
            if level >= 2:
                parts.append(skip)
            if level <= 3:
                parts.append(_crop_to(F.interpolate(prev, scale_factor=2, mode="bilinear", align_corners=False), skip))
            h = getattr(self, f"iconv{level}")(torch.cat(parts, 1))
            if level <= 4:
                prev = 10.0 * getattr(self, f"predict_disp{level}")(h) + 0.01
                disps.append(prev)
        return disps[::-1]  # finest first


class PoseExpNet(nn.Module):
    ENC = [16, 32, 64, 128, 256, 256, 256]
    ENC_K = [7, 5, 3, 3, 3, 3, 3]
    UP = [256, 128, 64, 32, 16]  # upconv5 .. upconv1

    def __init__(self, num_sources=2, explainability=True, softmax_mask=False):
        super().__init__()
        self.S, self.exp, self.softmax = num_sources, explainability, softmax_mask
        cin = 3 * (1 + num_sources)
        for i, (c, k) in enumerate(zip(self.ENC, self.ENC_K)):
            setattr(self, f"conv{i + 1}", _conv_relu(cin, c, k, stride=2))
            cin = c
        self.pose_pred = nn.Conv2d(self.ENC[-1], 6 * num_sources, 1)
        if explainability:
            prev = self.ENC[4]
            for i, c in enumerate(self.UP):
                setattr(self, f"upconv{5 - i}", nn.Sequential(nn.ConvTranspose2d(prev, c, 4, stride=2, padding=1), nn.ReLU()))
                prev = c
            per = 2 if softmax_mask else 1
            for level in (4, 3, 2, 1):
                setattr(self, f"predict_mask{level}", nn.Conv2d(self.UP[5 - level], per * num_sources, 3, padding=1))

    def forward(self, tgt, srcs):
        x = torch.cat([tgt] + list(srcs), 1)
        enc, h = [], x
        for i in range(7):
            h = getattr(self, f"conv{i + 1}")(h)
            enc.append(h)
        pose = 0.01 * self.pose_pred(h).mean(3).mean(2).view(tgt.size(0), self.S, 6)
        if not self.exp:
            return pose, [], []
        u, stages = enc[4], []
        for i in range(5):
            level = 5 - i
            like = enc[level - 2] if level >= 2 else x
            u = _crop_to(getattr(self, f"upconv{level}")(u), like)
            stages.append(u)
        masks, logits = [], []
        for level in (1, 2, 3, 4):
            out = getattr(self, f"predict_mask{level}")(stages[5 - level])
            if self.softmax:
                logits.append(out)
                b, c, hh, ww = out.shape
                pairs = out.view(b, c // 2, 2, hh, ww)
                masks.append(torch.softmax(pairs, 2)[:, :, 1])
            else:
                masks.append(torch.sigmoid(out))
        return pose, masks, logits


# ----------------------------------------------------------------------------- geometry
def euler2mat(r):
    """r [B,3] -> R = Rx(rx) @ Ry(ry) @ Rz(rz), each the standard right-handed rotation."""
    rx, ry, rz = r[:, 0], r[:, 1], r[:, 2]
    z, o = torch.zeros_like(rx), torch.ones_like(rx)
    cx, sx, cy, sy, cz, sz = torch.cos(rx), torch.sin(rx), torch.cos(ry), torch.sin(ry), torch.cos(rz), torch.sin(rz)
    Rx = torch.stack([o, z, z, z, cx, -sx, z, sx, cx], 1).view(-1, 3, 3)
    Ry = torch.stack([cy, z, sy, z, o, z, -sy, z, cy], 1).view(-1, 3, 3)
    Rz = torch.stack([cz, -sz, z, sz, cz, z, z, z, o], 1).view(-1, 3, 3)
    return Rx @ Ry @ Rz


def quat2mat(r):
    q = torch.cat([torch.ones_like(r[:, :1]), r], 1)
    q = q / q.norm(dim=1, keepdim=True)
    w, x, y, z = q[:, 0], q[:, 1], q[:, 2], q[:, 3]
    return torch.stack([
        w * w + x * x - y * y - z * z, 2 * x * y - 2 * w * z, 2 * w * y + 2 * x * z,
        2 * w * z + 2 * x * y, w * w - x * x + y * y - z * z, 2 * y * z - 2 * w * x,
        2 * x * z - 2 * w * y, 2 * w * x + 2 * y * z, w * w - x * x - y * y + z * z], 1).view(-1, 3, 3)


def pose_vec2mat(p, mode="euler"):
    R = euler2mat(p[:, 3:]) if mode == "euler" else quat2mat(p[:, 3:])
    return torch.cat([R, p[:, :3].unsqueeze(2)], 2)


def inverse_warp(src, depth, pose, K, padding="zeros", mode="euler"):
    """src [B,C,H,W], depth [B,1,H,W] (or [B,H,W]), pose [B,6], K [B,3,3] -> warped, valid [B,H,W]."""
    b, c, h, w = src.shape
    depth = depth.view(b, 1, h, w)
    ys, xs = torch.meshgrid(torch.arange(h, dtype=src.dtype, device=src.device),
                            torch.arange(w, dtype=src.dtype, device=src.device), indexing="ij")
    pix = torch.stack([xs, ys, torch.ones_like(xs)], 0).view(1, 3, -1)
    cam = (torch.inverse(K) @ pix) * depth.view(b, 1, -1)
    P = K @ pose_vec2mat(pose, mode)
    q = P[:, :, :3] @ cam + P[:, :, 3:]
    z = q[:, 2].clamp(min=1e-3)
    u, v = q[:, 0] / z, q[:, 1] / z
    un, vn = 2 * u / (w - 1) - 1, 2 * v / (h - 1) - 1
    valid = (un.abs() <= 1) & (vn.abs() <= 1)
    if padding == "zeros":
        # an out-of-bounds point samples 0 entirely
        un = torch.where(valid, un, torch.full_like(un, 2.0))
        vn = torch.where(valid, vn, torch.full_like(vn, 2.0))
    grid = torch.stack([un, vn], 2).view(b, h, w, 2)
    out = F.grid_sample(src, grid, mode="bilinear", padding_mode=padding, align_corners=True)
    return out, valid.view(b, h, w)


# ----------------------------------------------------------------------------- loss
PRESETS = {
    "original": dict(smooth_weight=0.5, smooth_decay=2.0, smooth_on_depth=False, keep_out_of_view=True, mask_weight=0.2),
    "pytorch-port": dict(smooth_weight=0.1, smooth_decay=2.3, smooth_on_depth=True, keep_out_of_view=False, mask_weight=0.0),
}


def smoothness(x):
    def grad(t):
        return t[:, :, :, 1:] - t[:, :, :, :-1], t[:, :, 1:] - t[:, :, :-1]
    dx, dy = grad(x)
    dx2, dxdy = grad(dx)
    dydx, dy2 = grad(dy)
    terms = [t.abs().mean() if t.numel() else x.sum() * 0 for t in (dx2, dxdy, dydx, dy2)]
    return sum(terms)


def sfm_loss(tgt, srcs, K, disps, pose, masks, logits, cfg, mode="euler", padding="zeros"):
    """Returns (total, photometric, smoothness, explainability-or-None)."""
    b, s_count = srcs.shape[:2]
    _, c, H, W = tgt.shape
    use_mask = cfg["mask_weight"] > 0
    photo = smooth = expl = 0
    sw = cfg["smooth_weight"]
    for s, disp in enumerate(disps):
        h, w = disp.shape[2:]
        if (h, w) != (H, W):
            tgt_s = F.adaptive_avg_pool2d(tgt, (h, w))
            srcs_s = F.adaptive_avg_pool2d(srcs.reshape(b * s_count, c, H, W), (h, w)).view(b, s_count, c, h, w)
            ds = H / h
            K_s = torch.cat([K[:, :2] / ds, K[:, 2:]], 1)
        else:
            tgt_s, srcs_s, K_s = tgt, srcs, K
        depth = 1.0 / disp
        for i in range(s_count):
            warped, valid = inverse_warp(srcs_s[:, i], depth, pose[:, i], K_s, padding, mode)
            diff = (tgt_s - warped).abs()
            if not cfg["keep_out_of_view"]:
                diff = diff * valid.unsqueeze(1).to(diff.dtype)
            if use_mask:
                diff = diff * masks[s][:, i:i + 1]
            photo = photo + diff.mean()
        if sw != 0:
            smooth = smooth + sw * smoothness(depth if cfg["smooth_on_depth"] else disp)
        sw = sw / cfg["smooth_decay"]
        if use_mask:
            if logits:
                l = logits[s]
                bb, cc, hh, ww = l.shape
                pairs = l.view(bb, cc // 2, 2, hh, ww)
                expl = expl + F.softplus(pairs[:, :, 0] - pairs[:, :, 1]).mean()
            else:
                expl = expl + F.binary_cross_entropy(masks[s], torch.ones_like(masks[s]))
    total = photo + smooth
    if use_mask:
        expl = cfg["mask_weight"] * expl
        total = total + expl
    return total, photo, smooth, (expl if use_mask else None)


# ----------------------------------------------------------------------------- deterministic init
MASK32 = 0xFFFFFFFF


def fnv1a(name):
    h = 0x811C9DC5
    for ch in name.encode():
        h = ((h ^ ch) * 0x01000193) & MASK32
    return h


def hash_uniform(n, salt):
    """n values in (-1, 1): an integer hash of (index, salt), identical in C++ (tests/hash_init.h)."""
    import numpy as np
    i = np.arange(n, dtype=np.uint64)
    x = (i * np.uint64(0x9E3779B1) + np.uint64(salt) * np.uint64(0x85EBCA77)) & np.uint64(MASK32)
    x ^= x >> np.uint64(16)
    x = (x * np.uint64(0x7FEB352D)) & np.uint64(MASK32)
    x ^= x >> np.uint64(15)
    x = (x * np.uint64(0x846CA68B)) & np.uint64(MASK32)
    x ^= x >> np.uint64(16)
    return (x.astype(np.float64) + 0.5) / 4294967296.0 * 2.0 - 1.0


def hash_init_(module):
    """Weights: Xavier-uniform bound times hash noise; biases: 0.1 times hash noise."""
    import numpy as np
    for name, p in module.named_parameters():
        n = p.numel()
        if name.endswith("weight"):
            rf = p[0, 0].numel()
            fan_in, fan_out = p.size(1) * rf, p.size(0) * rf
            bound = math.sqrt(6.0 / (fan_in + fan_out))
        else:
            bound = 0.1
        vals = (bound * hash_uniform(n, fnv1a(name))).astype(np.float32)
        with torch.no_grad():
            p.copy_(torch.from_numpy(vals).view_as(p))
