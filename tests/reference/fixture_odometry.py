"""Fixtures for the odometry metrics (tests/test_odometry_metrics_cv.cpp): KITTI-format trajectories
with planted errors and the numbers this reference computes for them under every alignment.

NumPy only (written here from the definitions in docs/evaluation.md, not copied from the KITTI
devkit or kitti-odom-eval):
  * both trajectories relative to their first pose, X_0^-1 X_i;
  * alignment of the predicted positions to the true ones: none; scale (least squares,
    s = sum(p.g)/sum(p.p)); 6dof / 7dof (Umeyama: rotation, translation, and for 7dof a scale);
    scale_7dof (the 7-DoF fit's scale alone). The scale multiplies positions, the rigid part
    left-multiplies the poses;
  * t_err / r_err: first frames 0, 10, 20, ...; for each L in 100..800 m the first frame whose
    distance along the ground truth exceeds the start's by more than L; E = dP^-1 dG;
    t = |t_E| / L, r = acos(clamp((tr R_E - 1)/2)) / L; means over all segments, in % and deg/100 m;
  * ATE: RMSE of the position differences; RPE: means over consecutive frames of |t| and the angle
    (deg) of dG^-1 dP.
The relative metrics (t_err, r_err, RPE) are computed twice, on the prediction with the whole
alignment applied and on the prediction with only its scale applied (the rigid part cancels in
relative motions); the two must agree to 1e-7 before anything is written, and the second (free
of the rounding the rigid rotation adds) is stored.

Planted errors, one sequence each (ground truths differ, about 1 km each):
  09  pure scale: the prediction is the truth with every position multiplied by 0.37, seen from
      another world frame. The truth turns only by exact 90-degree steps, so every rotation
      matrix is exact and the rotation errors are exactly 0; the reference checks its t_err
      without alignment against the closed form 100 |1 - s| mean_seg(|displacement| / L).
  10  constant yaw drift: each frame-to-frame motion turned by an extra 0.1 degree about the
      camera's y axis (written with a leading frame index: the 13-number form).
  11  noise: each frame-to-frame motion with Gaussian rotation (0.05 degree) and translation
      (0.08 m) noise, at a third of the true scale.
The files are written with 12 significant digits and read back before anything is computed,
so this script and the C++ code score the very same numbers.

Usage: fixture_odometry.py --out DIR  (writes DIR/odometry/{gt,pred}/NN.txt and
DIR/odometry/expected.json; --full is ignored).
"""
import argparse
import json
import math
import os

import numpy as np

ALIGNS = ["none", "scale", "scale_7dof", "7dof", "6dof"]
LENGTHS = [100.0, 200.0, 300.0, 400.0, 500.0, 600.0, 700.0, 800.0]
STEP = 10


# ---------------------------------------------------------------- poses
def rot_y(a):
    c, s = math.cos(a), math.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def rot_axis(v):
    """Rotation by |v| about v (Rodrigues)."""
    a = np.linalg.norm(v)
    if a == 0:
        return np.eye(3)
    k = v / a
    K = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + math.sin(a) * K + (1 - math.cos(a)) * K @ K


def pose(R, t):
    T = np.eye(4)
    T[:3, :3] = R
    T[:3, 3] = t
    return T


def manhattan_drive(n, rng, start):
    """Camera-to-world poses (KITTI camera: x right, y down, z forward) of a drive that goes
    straight and turns by exact 90-degree yaw steps; speed 4.5..5.5 m per frame and a small
    vertical wave so the path is neither planar nor made of round distances."""
    quarter = np.array([[0.0, 0, 1], [0, 1, 0], [-1, 0, 0]])  # rot_y(90 deg), exact
    R = np.eye(3)
    p = np.array(start, dtype=float)
    out = []
    next_turn = rng.integers(25, 45)
    for i in range(n):
        out.append(pose(R.copy(), p.copy()))
        if i == next_turn:
            R = R @ (quarter if rng.random() < 0.5 else quarter.T)
            next_turn = i + rng.integers(25, 45)
        step = np.array([0.0, 0.0, rng.uniform(4.5, 5.5)])
        p = p + R @ step
        p[1] = start[1] + 0.8 * math.sin(0.07 * i) + 0.3 * math.sin(0.31 * i)
    return out


def relative_steps(traj):
    return [np.linalg.inv(traj[i]) @ traj[i + 1] for i in range(len(traj) - 1)]


def chain(first, steps):
    out = [first]
    for D in steps:
        out.append(out[-1] @ D)
    return out


# ---------------------------------------------------------------- files
def write_traj(path, traj, indexed=False):
    with open(path, "w") as f:
        for i, T in enumerate(traj):
            nums = ["%.12g" % v for v in T[:3, :].reshape(-1)]
            f.write(" ".join(([str(i)] if indexed else []) + nums) + "\n")


def read_traj(path):
    rows = np.loadtxt(path, ndmin=2)
    if rows.shape[1] == 13:
        rows = rows[:, 1:]
    out = []
    for r in rows:
        T = np.eye(4)
        T[:3, :] = r.reshape(3, 4)
        out.append(T)
    return out


# ---------------------------------------------------------------- metrics
def umeyama(x, y, with_scale):
    """x, y: [n,3]; s, R, t minimising sum |y - (s R x + t)|^2."""
    mx, my = x.mean(0), y.mean(0)
    xc, yc = x - mx, y - my
    var_x = (xc ** 2).sum(1).mean()
    cov = yc.T @ xc / len(x)
    U, D, Vt = np.linalg.svd(cov)
    S = np.eye(3)
    if np.linalg.det(U) * np.linalg.det(Vt) < 0:
        S[2, 2] = -1
    R = U @ S @ Vt
    s = np.trace(np.diag(D) @ S) / var_x if with_scale else 1.0
    return s, R, my - s * R @ mx


def align(gt, pred, mode):
    """Returns (gt relative, pred fully aligned, pred with only the scale, scale)."""
    g0, p0 = np.linalg.inv(gt[0]), np.linalg.inv(pred[0])
    g = [g0 @ T for T in gt]
    p = [p0 @ T for T in pred]
    gx = np.array([T[:3, 3] for T in g])
    px = np.array([T[:3, 3] for T in p])
    s, R, t = 1.0, np.eye(3), np.zeros(3)
    if mode == "scale":
        s = float((px * gx).sum() / (px * px).sum())
    elif mode in ("7dof", "6dof", "scale_7dof"):
        s, R, t = umeyama(px, gx, mode != "6dof")
        if mode == "scale_7dof":
            R, t = np.eye(3), np.zeros(3)
    scaled = []
    for T in p:
        T = T.copy()
        T[:3, 3] *= s
        scaled.append(T)
    A = pose(R, t)
    return g, [A @ T for T in scaled], scaled, s


def angle(R):
    return math.acos(max(-1.0, min(1.0, 0.5 * (R[0, 0] + R[1, 1] + R[2, 2] - 1.0))))


def distances(traj):
    d = [0.0]
    for i in range(1, len(traj)):
        d.append(d[-1] + float(np.linalg.norm(traj[i][:3, 3] - traj[i - 1][:3, 3])))
    return d


def segments(gt, pred):
    d = distances(gt)
    out = []
    for first in range(0, len(gt), STEP):
        for L in LENGTHS:
            last = next((i for i in range(first, len(gt)) if d[i] > d[first] + L), None)
            # No segment end may sit within 1e-6 m of its boundary: rounding could move it.
            margins = [abs(d[i] - d[first] - L) for i in range(first, len(gt))]
            assert min(margins) > 1e-6, "a segment boundary within 1e-6 m of a frame: pick another seed"
            if last is None:
                continue
            E = np.linalg.inv(np.linalg.inv(pred[first]) @ pred[last]) @ (np.linalg.inv(gt[first]) @ gt[last])
            out.append((first, last, L, float(np.linalg.norm(E[:3, 3])) / L, angle(E[:3, :3]) / L))
    return out


def relative_metrics(g, p):
    seg = segments(g, p)
    rpe_t, rpe_r = [], []
    for i in range(len(g) - 1):
        E = np.linalg.inv(np.linalg.inv(g[i]) @ g[i + 1]) @ (np.linalg.inv(p[i]) @ p[i + 1])
        rpe_t.append(float(np.linalg.norm(E[:3, 3])))
        rpe_r.append(angle(E[:3, :3]))
    return seg, float(np.mean(rpe_t)), float(np.mean(rpe_r)) * 180 / math.pi


def score(gt, pred, mode):
    g, p_full, p_scaled, s = align(gt, pred, mode)
    seg, rpe_m, rpe_deg = relative_metrics(g, p_scaled)
    seg_full, rpe_m_full, rpe_deg_full = relative_metrics(g, p_full)
    assert len(seg) == len(seg_full)
    for a, b in zip(seg, seg_full):
        assert abs(a[3] - b[3]) * 100 < 1e-7 and abs(a[4] - b[4]) * 100 * 180 / math.pi < 1e-7, (a, b)
    assert abs(rpe_m - rpe_m_full) < 1e-7 and abs(rpe_deg - rpe_deg_full) < 1e-7
    gx = np.array([T[:3, 3] for T in g])
    px = np.array([T[:3, 3] for T in p_full])
    ate = math.sqrt(float(((gx - px) ** 2).sum(1).mean()))
    t_err = 100 * float(np.mean([e[3] for e in seg])) if seg else float("nan")
    r_err = 100 * 180 / math.pi * float(np.mean([e[4] for e in seg])) if seg else float("nan")
    return {
        "t_err_percent": t_err,
        "r_err_deg_per_100m": r_err,
        "ate_m": ate,
        "rpe_m": rpe_m,
        "rpe_deg": rpe_deg,
        "frames": len(g),
        "length_m": distances(g)[-1],
        "segments": len(seg),
        "scale": s,
    }, seg


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--full", action="store_true", help="ignored")
    args = ap.parse_args()
    root = os.path.join(args.out, "odometry")
    os.makedirs(os.path.join(root, "gt"), exist_ok=True)
    os.makedirs(os.path.join(root, "pred"), exist_ok=True)
    rng = np.random.default_rng(25)

    world = pose(np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]]), np.array([3.0, -2.0, 7.0]))  # exact
    # 09: pure scale, in another world frame.
    gt09 = manhattan_drive(200, rng, [1.5, 0.2, -4.0])
    s09 = 0.37
    g0inv = np.linalg.inv(gt09[0])
    pred09 = []
    for T in gt09:
        rel = g0inv @ T
        rel[:3, 3] *= s09
        pred09.append(world @ rel)
    # 10: constant yaw drift of 0.1 degree per frame.
    gt10 = manhattan_drive(190, rng, [0.0, 0.0, 0.0])
    drift = pose(rot_y(0.1 * math.pi / 180), np.zeros(3))
    pred10 = chain(gt10[0], [drift @ D for D in relative_steps(gt10)])
    # 11: noise on every step, a third of the scale.
    gt11 = manhattan_drive(210, rng, [-3.0, 1.0, 2.0])
    steps = []
    for D in relative_steps(gt11):
        N = pose(rot_axis(rng.normal(0, 0.05 * math.pi / 180, 3)), rng.normal(0, 0.08, 3))
        S = N @ D
        S[:3, 3] /= 3.0
        steps.append(S)
    pred11 = chain(world, steps)

    for name, g, p, indexed in [("09", gt09, pred09, False), ("10", gt10, pred10, True), ("11", gt11, pred11, False)]:
        write_traj(os.path.join(root, "gt", name + ".txt"), g)
        write_traj(os.path.join(root, "pred", name + ".txt"), p, indexed)

    expected = {"lengths": LENGTHS, "step": STEP, "alignments": {}}
    for mode in ALIGNS:
        seqs, pooled = {}, []
        for name in ["09", "10", "11"]:
            gt = read_traj(os.path.join(root, "gt", name + ".txt"))
            pred = read_traj(os.path.join(root, "pred", name + ".txt"))
            seqs[name], seg = score(gt, pred, mode)
            pooled += seg
        keys = ["t_err_percent", "r_err_deg_per_100m", "ate_m", "rpe_m", "rpe_deg"]
        mean = {k: float(np.mean([seqs[n][k] for n in seqs])) for k in keys}
        total = {
            "t_err_percent": 100 * float(np.mean([e[3] for e in pooled])),
            "r_err_deg_per_100m": 100 * 180 / math.pi * float(np.mean([e[4] for e in pooled])),
            "frames": sum(seqs[n]["frames"] for n in seqs),
            "length_m": sum(seqs[n]["length_m"] for n in seqs),
            "segments": len(pooled),
        }
        expected["alignments"][mode] = {"align": mode, "sequences": seqs, "mean": mean, "total": total}

    # Planted facts the numbers must show (checks of this reference itself).
    a = expected["alignments"]
    gt = read_traj(os.path.join(root, "gt", "09.txt"))
    pred = read_traj(os.path.join(root, "pred", "09.txt"))
    g, _, _, _ = align(gt, pred, "none")
    d = [np.linalg.norm(g[e[1]][:3, 3] - g[e[0]][:3, 3]) / e[2] for e in segments(g, g)]
    closed = 100 * abs(1 - s09) * float(np.mean(d))
    assert abs(a["none"]["sequences"]["09"]["t_err_percent"] - closed) < 1e-6 * closed
    for mode in ALIGNS:
        assert a[mode]["sequences"]["09"]["r_err_deg_per_100m"] == 0.0  # exact rotations
        assert a[mode]["sequences"]["09"]["rpe_deg"] == 0.0
    for mode in ["scale", "7dof", "scale_7dof"]:
        assert abs(a[mode]["sequences"]["09"]["scale"] * s09 - 1) < 1e-9
        assert a[mode]["sequences"]["09"]["t_err_percent"] < 1e-9
    assert a["7dof"]["sequences"]["09"]["ate_m"] < 1e-9
    # The yaw drift: every consecutive step is off by exactly 0.1 degree.
    assert abs(a["none"]["sequences"]["10"]["rpe_deg"] - 0.1) < 1e-9

    with open(os.path.join(root, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write("\n")
    print("odometry fixtures ->", root)
    for mode in ALIGNS:
        for name, r in a[mode]["sequences"].items():
            print("%-10s %s  t_err %9.4f %%  r_err %8.4f deg/100m  ATE %9.4f m  RPE %.4f m %.4f deg  (%d segments)" % (
                mode, name, r["t_err_percent"], r["r_err_deg_per_100m"], r["ate_m"], r["rpe_m"], r["rpe_deg"],
                r["segments"]))


if __name__ == "__main__":
    main()
