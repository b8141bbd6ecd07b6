"""Model/loss parity fixture: deterministic hash-initialised weights (see sfmlearner_ref.hash_init_,
mirrored in tests/hash_init.h, so the 35M weights need not be stored), one batch, every network
output, each loss component for both presets with the mask on and off, parameter gradients
(full for small tensors; norm, 4 random projections and 256 sampled entries for large ones)
and the total loss over five Adam steps.

  fixture_model.py --out DIR          -> DIR/model_small.safetensors  (B=2, 64x128; committed)
  fixture_model.py --out DIR --full   -> DIR/model_full.safetensors   (B=4, 128x416)
"""
import argparse
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sfmlearner_ref as ref  # noqa: E402
import st  # noqa: E402

SMALL_LIMIT = 4096
N_SAMPLES = 256
N_PROJ = 4


def hash_u32(n, salt):
    i = np.arange(n, dtype=np.uint64)
    M = np.uint64(ref.MASK32)
    x = (i * np.uint64(0x9E3779B1) + np.uint64(salt) * np.uint64(0x85EBCA77)) & M
    x ^= x >> np.uint64(16)
    x = (x * np.uint64(0x7FEB352D)) & M
    x ^= x >> np.uint64(15)
    x = (x * np.uint64(0x846CA68B)) & M
    x ^= x >> np.uint64(16)
    return x


def grad_summary(prefix, name, g, out):
    g = g.detach().double().flatten()
    n = g.numel()
    if n <= SMALL_LIMIT:
        out[f"{prefix}/full/{name}"] = g.float()
        return
    salt = ref.fnv1a(name)
    vals = [g.norm()]
    for k in range(N_PROJ):
        d = torch.from_numpy(ref.hash_uniform(n, (salt + 100 + k) & ref.MASK32))
        vals.append((g * d).sum())
    out[f"{prefix}/summary/{name}"] = torch.stack(vals)
    idx = torch.from_numpy((hash_u32(N_SAMPLES, (salt + 1) & ref.MASK32) % np.uint64(n)).astype(np.int64))
    out[f"{prefix}/sample/{name}"] = g[idx].float()


def smooth_images(b, frames, h, w, seed):
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(b * frames, 3, h // 8 + 1, w // 8 + 1, generator=g) * 2 - 1
    img = F.interpolate(low, size=(h, w), mode="bilinear", align_corners=False)
    img = img + 0.1 * (torch.rand(img.shape, generator=g) * 2 - 1)
    return img.clamp(-1, 1).view(b, frames, 3, h, w)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--full", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    B, H, W = (4, 128, 416) if args.full else (2, 64, 128)
    S = 2
    frames = smooth_images(B, S + 1, H, W, seed=7)
    tgt = frames[:, 1].contiguous()
    srcs = torch.stack([frames[:, 0], frames[:, 2]], 1).contiguous()
    fx = 0.58 * W
    K = torch.tensor([[fx, 0, (W - 1) / 2], [0, fx * 1.0, (H - 1) / 2 + 0.3], [0, 0, 1]], dtype=torch.float32)
    K = K.unsqueeze(0).repeat(B, 1, 1)
    out = {"batch/tgt": tgt, "batch/srcs": srcs, "batch/K": K}

    disp_net = ref.DispNet()
    ref.hash_init_(disp_net)
    disp_start = {k: v.clone() for k, v in disp_net.state_dict().items()}
    disps = disp_net(tgt)
    for s, d in enumerate(disps):
        out[f"out/disp{s}"] = d
    nets = {}
    for mask in (False, True):
        pn = ref.PoseExpNet(S, explainability=mask)
        ref.hash_init_(pn)
        nets[mask] = pn
        pose, masks, _ = pn(tgt, [srcs[:, 0], srcs[:, 1]])
        out[f"out/pose_mask{int(mask)}"] = pose
        for s, m in enumerate(masks):
            out[f"out/mask{s}"] = m
    # the 2-class softmax variant's outputs too
    pn_sm = ref.PoseExpNet(S, explainability=True, softmax_mask=True)
    ref.hash_init_(pn_sm)
    _, masks_sm, logits_sm = pn_sm(tgt, [srcs[:, 0], srcs[:, 1]])
    for s, (m, l) in enumerate(zip(masks_sm, logits_sm)):
        out[f"out/softmax_mask{s}"] = m

    for preset in ("original", "pytorch-port"):
        for mask in (False, True):
            cfg = dict(ref.PRESETS[preset])
            cfg["mask_weight"] = 0.2 if mask else 0.0
            tag = f"{preset}/mask{int(mask)}"
            disp_net.load_state_dict(disp_start)
            pn = nets[mask]
            ref.hash_init_(pn)
            pose_start = {k: v.clone() for k, v in pn.state_dict().items()}
            params = list(disp_net.parameters()) + list(pn.parameters())
            opt = torch.optim.Adam(params, lr=2e-4, betas=(0.9, 0.999))
            totals = []
            for step in range(6):
                opt.zero_grad()
                disps = disp_net(tgt)
                pose, masks, logits = pn(tgt, [srcs[:, 0], srcs[:, 1]])
                total, photo, smooth, expl = ref.sfm_loss(tgt, srcs, K, disps, pose, masks, logits, cfg)
                totals.append(total.detach().double())
                if step == 0:
                    total.backward()
                    comps = [photo.detach(), smooth.detach(), (expl.detach() if expl is not None else torch.tensor(0.0)), total.detach()]
                    out[f"loss/{tag}"] = torch.stack([torch.as_tensor(c, dtype=torch.float64) for c in comps])
                    for name, p in disp_net.named_parameters():
                        grad_summary(f"grad/{tag}", "dispnet." + name, p.grad, out)
                    for name, p in pn.named_parameters():
                        grad_summary(f"grad/{tag}", "posenet." + name, p.grad, out)
                    opt.step()
                elif step < 6:
                    total.backward()
                    opt.step()
            out[f"adam/{tag}"] = torch.stack(totals)
            pn.load_state_dict(pose_start)
            print(f"  {tag}: loss {[round(float(v), 6) for v in out[f'loss/{tag}']]}", flush=True)
    name = "model_full.safetensors" if args.full else "model_small.safetensors"
    os.makedirs(args.out, exist_ok=True)
    st.save(os.path.join(args.out, name), out, {"B": B, "H": H, "W": W, "torch": torch.__version__})
    print("wrote", os.path.join(args.out, name))


if __name__ == "__main__":
    main()
