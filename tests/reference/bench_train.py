"""Times one training iteration of the project's PyTorch reference of SfMLearner
(tests/reference/sfmlearner_ref.py: DispNet, PoseExpNet and the 'original' loss with the
explainability mask), the PyTorch side of `sfm bench train --pytorch`.

An iteration is what `sfm bench train` times: zero_grad, both networks forward, the four-scale
loss, backward, one Adam step (lr 2e-4, PyTorch's default Adam implementation), on a batch that
is already on the device. It runs eagerly and, when this torch has torch.compile (>= 2.0),
with the forward + loss compiled (backward through AOTAutograd, the optimiser step eager).

Precision policies (CUDA only; the CPU has no TF32 path and runs once, 'fp32'):
  tf32  torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
        (convolutions on TF32 tensor cores, as PyTorch allows by default for cuDNN)
  fp32  both False (FP32-strict)

Timing: --warmup untimed iterations, then --iters timed ones; on CUDA each is bracketed by
CUDA events on the current stream and synchronised, on the CPU by perf_counter. The median
is reported with min and max. Peak memory (CUDA): torch.cuda.max_memory_allocated() over the
timed iterations (the statistics are reset after the warm-up, so the parameters, gradients and
optimiser state count, as in the C++ allocator's peak).

Output: one JSON object on stdout (and in --json FILE); progress lines go to stderr.

  /usr/bin/python3 tests/reference/bench_train.py --device cpu --height 64 --width 208 --iters 3 --warmup 1
  python3 tests/reference/bench_train.py --device cuda --iters 50 --warmup 10 --json torch.json
"""
import argparse
import gc
import json
import os
import platform
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sfmlearner_ref as ref  # noqa: E402


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def kitti_K(b, h, w):
    """KITTI's colour camera at 128x416 (fx = fy = 241.7, cx = 204.2, cy = 59.0) scaled to h x w,
    as train/synth/synth_world.h's kitti_intrinsics."""
    sx, sy = w / 416.0, h / 128.0
    k = torch.tensor([[241.7 * sx, 0.0, 204.2 * sx], [0.0, 241.7 * sy, 59.0 * sy], [0.0, 0.0, 1.0]], device="cpu")
    return k.unsqueeze(0).repeat(b, 1, 1)


def has_compile():
    return hasattr(torch, "compile")


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def set_precision(device, precision):
    if device != "cuda":
        return
    on = precision == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = on
    torch.backends.cudnn.allow_tf32 = on


def make_default_device(device):
    """sfmlearner_ref.inverse_warp builds its pixel grid with torch.arange without a device
    argument, so on CUDA the factory default must be the GPU (else the grid is made on the CPU
    and the matmul with K fails)."""
    if device != "cuda":
        return
    if hasattr(torch, "set_default_device"):  # torch >= 2.0
        torch.set_default_device("cuda")
    else:
        torch.set_default_tensor_type(torch.cuda.FloatTensor)


def run_one(args, mode, precision):
    """Builds fresh networks (seeded), times the iteration, returns a result dict."""
    dev = torch.device(args.device)
    set_precision(args.device, precision)
    torch.manual_seed(0)
    S = args.seq_length - 1
    use_mask = args.mask_weight > 0
    disp_net = ref.DispNet().to(dev)
    pose_net = ref.PoseExpNet(num_sources=S, explainability=use_mask).to(dev)
    params = list(disp_net.parameters()) + list(pose_net.parameters())
    opt = torch.optim.Adam(params, lr=2e-4, betas=(0.9, 0.999))
    cfg = dict(ref.PRESETS["original"])
    cfg["mask_weight"] = args.mask_weight

    g = torch.Generator(device="cpu").manual_seed(1)
    B, H, W = args.batch, args.height, args.width
    # made on the CPU (explicitly: on CUDA the default device is the GPU, see make_default_device)
    tgt = (torch.rand(B, 3, H, W, generator=g, device="cpu") * 2 - 1).to(dev)
    srcs = (torch.rand(B, S, 3, H, W, generator=g, device="cpu") * 2 - 1).to(dev)
    K = kitti_K(B, H, W).to(dev)

    def fwd_loss(tgt, srcs, K):
        disps = disp_net(tgt)
        pose, masks, logits = pose_net(tgt, [srcs[:, i] for i in range(S)])
        total, _, _, _ = ref.sfm_loss(tgt, srcs, K, disps, pose, masks, logits, cfg)
        return total

    compile_s = None
    if mode == "compile":
        torch._dynamo.reset()
        fn = torch.compile(fwd_loss, mode=None if args.compile_mode == "default" else args.compile_mode)
    else:
        fn = fwd_loss

    def step():
        opt.zero_grad(set_to_none=True)
        total = fn(tgt, srcs, K)
        total.backward()
        opt.step()
        return total

    cuda = args.device == "cuda"
    if cuda:
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    first = step()  # the first call compiles under torch.compile
    if cuda:
        torch.cuda.synchronize()
    first_s = time.perf_counter() - t0
    if mode == "compile":
        compile_s = first_s
    first_loss = float(first.detach())
    for _ in range(max(0, args.warmup - 1)):
        step()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    times = []
    last = None
    for _ in range(args.iters):
        if cuda:
            a = torch.cuda.Event(enable_timing=True)
            b = torch.cuda.Event(enable_timing=True)
            a.record()
            last = step()
            b.record()
            b.synchronize()
            times.append(a.elapsed_time(b))
        else:
            t = time.perf_counter()
            last = step()
            times.append((time.perf_counter() - t) * 1e3)
    med = statistics.median(times)
    r = {
        "mode": mode,
        "precision": precision,
        "ms_median": med,
        "ms_min": min(times),
        "ms_max": max(times),
        "ms_all": times,
        "images_per_s": 1e3 * B / med,
        "peak_bytes": torch.cuda.max_memory_allocated() if cuda else None,
        "first_iteration_s": first_s,
        "compile_s": compile_s,
        "loss_first": first_loss,
        "loss_last": float(last.detach()) if last is not None else None,
        "parameters": sum(p.numel() for p in params),
    }
    log(f"torch {mode:7s} {precision}: median {med:.3f} ms/iter ({r['images_per_s']:.1f} images/s)"
        + (f", peak {r['peak_bytes'] / 2**20:.1f} MiB" if cuda else "")
        + (f", first call {first_s:.1f} s" if mode == "compile" else ""))
    return r


def write_json(path, out):
    """The result so far, atomically (a temporary name, then renamed)."""
    if not path:
        return
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(json.dumps(out, indent=2) + "\n")
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--height", type=int, default=128)
    ap.add_argument("--width", type=int, default=416)
    ap.add_argument("--seq-length", type=int, default=3)
    ap.add_argument("--mask-weight", type=float, default=0.2)
    ap.add_argument("--iters", type=int, default=None, help="timed iterations (CPU 3, CUDA 50)")
    ap.add_argument("--warmup", type=int, default=None, help="untimed iterations first (CPU 1, CUDA 10)")
    ap.add_argument("--precision", choices=["tf32", "fp32", "both"], default="both",
                    help="CUDA precision policy (the CPU always runs fp32)")
    ap.add_argument("--compile", choices=["auto", "on", "off", "only"], default="auto",
                    help="also time under torch.compile (auto: when this torch has it; only: the compiled "
                         "runs alone, e.g. as a step with its own time budget)")
    ap.add_argument("--compile-mode", default="default",
                    help="torch.compile mode: default, reduce-overhead, max-autotune, max-autotune-no-cudagraphs")
    ap.add_argument("--cudnn-benchmark", choices=["on", "off"], default="on",
                    help="torch.backends.cudnn.benchmark (on: cuDNN picks the fastest algorithm per shape once)")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads for torch (0: torch's default)")
    ap.add_argument("--json", default="", help="also write the JSON result to this file")
    args = ap.parse_args()
    if args.iters is None:
        args.iters = 3 if args.device == "cpu" else 50
    if args.warmup is None:
        args.warmup = 1 if args.device == "cpu" else 10
    if args.seq_length < 3 or args.seq_length % 2 == 0:
        ap.error(f"--seq-length must be odd and >= 3, got {args.seq_length}")
    if args.iters < 1 or args.warmup < 1:
        ap.error("--iters and --warmup must be >= 1 (the first warm-up call also compiles)")
    if args.device == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda but torch.cuda.is_available() is False")
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.backends.cudnn.benchmark = args.cudnn_benchmark == "on"
    make_default_device(args.device)

    notes = []
    compile_ok = has_compile()
    compile_reason = None
    if not compile_ok:
        compile_reason = "torch.compile unavailable (torch %s)" % ".".join(torch.__version__.split(".")[:2])
        log(compile_reason)
        notes.append(compile_reason)
        if args.compile == "on":
            log("--compile on requested but unavailable: eager only")
    modes = [] if args.compile == "only" else ["eager"]
    if compile_ok and args.compile != "off":
        modes.append("compile")
    if args.device == "cuda":
        precisions = ["tf32", "fp32"] if args.precision == "both" else [args.precision]
    else:
        precisions = ["fp32"]
        if args.precision == "tf32":
            notes.append("TF32 exists on CUDA only: the CPU run is fp32")
    notes.append("reference as written: sfmlearner_ref.inverse_warp rebuilds its pixel grid and inverts K "
                 "on every call (per scale and source)")

    runs = []
    out = {
        "tool": "tests/reference/bench_train.py",
        "torch_version": torch.__version__,
        "python": platform.python_version(),
        "device": args.device,
        "device_name": torch.cuda.get_device_name() if args.device == "cuda" else cpu_name(),
        "threads": torch.get_num_threads(),
        "batch": args.batch,
        "height": args.height,
        "width": args.width,
        "seq_length": args.seq_length,
        "mask_weight": args.mask_weight,
        "iters": args.iters,
        "warmup": args.warmup,
        "cudnn_benchmark": args.cudnn_benchmark == "on",
        "compile_available": compile_ok,
        "compile_unavailable_reason": compile_reason,
        "compile_mode": args.compile_mode,
        "optimizer": "torch.optim.Adam(lr=2e-4), PyTorch's default implementation",
        "runs": runs,
        "notes": notes,
    }
    for prec in precisions:
        for mode in modes:
            try:
                runs.append(run_one(args, mode, prec))
                write_json(args.json, out)  # run by run: a time limit keeps what finished
                if args.device == "cuda":  # the run's tensors are gone with its frame: return the cache
                    gc.collect()
                    torch.cuda.empty_cache()
            except Exception as e:  # a compile failure must not hide the eager numbers
                if mode != "compile":
                    raise
                msg = f"torch.compile failed ({prec}): {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
                log(msg)
                notes.append(msg)
                runs.append({"mode": mode, "precision": prec, "error": msg})
                write_json(args.json, out)

    write_json(args.json, out)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
