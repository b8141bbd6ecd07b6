#include "eval/pose_metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "boundary/error.h"
#include "boundary/math/warp_math.h"
#include "engine/file_io.h"

namespace sfm::eval {

Pose pose_vec_to_mat(const double* v, RotationMode mode) {
  double Rt[12];
  math::pose_vec2mat_forward<double>(mode, v, Rt);
  Pose T = Pose::Identity();
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 4; ++j) T(i, j) = Rt[4 * i + j];
  return T;
}

Pose rigid_inverse(const Pose& T) {
  Pose inv = Pose::Identity();
  Eigen::Matrix3d Rt = T.topLeftCorner<3, 3>().transpose();
  inv.topLeftCorner<3, 3>() = Rt;
  inv.topRightCorner<3, 1>() = -Rt * T.topRightCorner<3, 1>();
  return inv;
}

PoseList relative_to_first(const PoseList& poses) {
  PoseList out;
  if (poses.empty()) return out;
  Pose inv0 = rigid_inverse(poses[0]);
  out.reserve(poses.size());
  for (const Pose& p : poses) out.push_back(inv0 * p);
  return out;
}

PoseList snippet_poses_from_network(const float* vecs, int seq_length, int target, RotationMode mode) {
  SFM_CHECK(seq_length >= 2, "snippet_poses_from_network: a snippet of ", seq_length, " frames");
  std::vector<double> v(vecs, vecs + 6 * (seq_length - 1));
  return snippet_poses_from_network(v.data(), seq_length, target, mode);
}

PoseList snippet_poses_from_network(const double* vecs, int seq_length, int target, RotationMode mode) {
  SFM_CHECK(seq_length >= 2 && target >= 0 && target < seq_length, "snippet_poses_from_network: target ", target,
            " outside a snippet of ", seq_length);
  PoseList cams;  // camera-to-target
  int s = 0;
  for (int i = 0; i < seq_length; ++i) {
    if (i == target) {
      cams.push_back(Pose::Identity());
      continue;
    }
    double v[6];
    for (int k = 0; k < 6; ++k) v[k] = vecs[6 * s + k];
    ++s;
    // The network's transform maps target points into source i: its inverse is camera i's pose.
    cams.push_back(rigid_inverse(pose_vec_to_mat(v, mode)));
  }
  return relative_to_first(cams);
}

PoseList chain_snippets(const std::vector<PoseList>& snippets, int target) {
  SFM_CHECK(!snippets.empty(), "chain_snippets: no snippets");
  const int K = (int)snippets.size(), N = (int)snippets[0].size();
  SFM_CHECK(N >= 2 && target >= 0 && target < N - 1, "chain_snippets: target ", target, " in snippets of ", N,
            " frames (it needs a frame after it)");
  for (int k = 0; k < K; ++k)
    SFM_CHECK((int)snippets[k].size() == N, "chain_snippets: snippet ", k, " has ", snippets[k].size(),
              " poses, the first ", N);
  PoseList traj{Pose::Identity()};
  for (int i = 0; i + 1 < K + N - 1; ++i) {
    const int k = std::clamp(i - target, 0, K - 1), a = i - k;
    const PoseList& s = snippets[k];
    traj.push_back(traj.back() * (rigid_inverse(s[a]) * s[a + 1]));
  }
  return traj;
}

Pose pose_from_3x4(const double* m) {
  Pose T = Pose::Identity();
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 4; ++j) T(i, j) = m[4 * i + j];
  return T;
}

Pose pose_from_3x4(const Pose34& T) {
  Pose P = Pose::Identity();
  P.topRows<3>() = T;
  return P;
}

RotationMode parse_rotation_mode(const std::string& s) {
  if (s == "euler") return RotationMode::Euler;
  if (s == "quat") return RotationMode::Quat;
  fail("--rotation: expected euler or quat, got '", s, "'");
}
const char* rotation_mode_name(RotationMode m) { return m == RotationMode::Quat ? "quat" : "euler"; }

PoseErrors snippet_ate(const PoseList& gt_in, const PoseList& pred_in) {
  SFM_CHECK(gt_in.size() == pred_in.size(), "snippet_ate: ", gt_in.size(), " ground-truth poses and ", pred_in.size(),
            " predicted ones");
  SFM_CHECK(gt_in.size() >= 2, "snippet_ate: a snippet needs at least 2 frames, got ", gt_in.size());
  PoseList gt = relative_to_first(gt_in), pred = relative_to_first(pred_in);
  size_t n = gt.size();
  // Positions. relative_to_first puts frame 0 at the origin in both, so the reference's offset
  // alignment (pred += gt_0 - pred_0) only removes rounding residue; it is kept for fidelity.
  Eigen::Vector3d offset = gt[0].topRightCorner<3, 1>() - pred[0].topRightCorner<3, 1>();
  double num = 0, den = 0;
  std::vector<Eigen::Vector3d> p(n), g(n);
  for (size_t i = 0; i < n; ++i) {
    g[i] = gt[i].topRightCorner<3, 1>();
    p[i] = pred[i].topRightCorner<3, 1>() + offset;
    num += g[i].dot(p[i]);
    den += p[i].dot(p[i]);
  }
  PoseErrors e;
  // All predicted positions at the origin: every scale gives the same error; report 0.
  e.scale = den > 0 ? num / den : 0.0;
  double se = 0;
  for (size_t i = 0; i < n; ++i) se += (e.scale * p[i] - g[i]).squaredNorm();
  e.ate = std::sqrt(se) / (double)n;
  double rot = 0;
  for (size_t i = 1; i < n; ++i) {
    Eigen::Matrix3d D = gt[i].topLeftCorner<3, 3>().transpose() * pred[i].topLeftCorner<3, 3>();
    double c = std::clamp((D.trace() - 1.0) / 2.0, -1.0, 1.0);
    rot += std::acos(c);
  }
  e.rot_deg = rot / (double)(n - 1) * 180.0 / M_PI;
  return e;
}

PoseErrors snippet_ate_from_network(const std::vector<double>& pose_vecs, const std::vector<double>& gt_3x4,
                                    int seq_length, RotationMode mode) {
  SFM_CHECK(seq_length >= 2, "snippet_ate_from_network: a snippet of ", seq_length, " frames");
  SFM_CHECK(pose_vecs.size() == (size_t)(seq_length - 1) * 6, "snippet_ate_from_network: ", pose_vecs.size(),
            " pose numbers for ", seq_length - 1, " sources (expected ", (seq_length - 1) * 6, ")");
  SFM_CHECK(gt_3x4.size() == (size_t)seq_length * 12, "snippet_ate_from_network: ", gt_3x4.size(),
            " ground-truth numbers for ", seq_length, " frames (expected ", seq_length * 12, ")");
  PoseList pred = snippet_poses_from_network(pose_vecs.data(), seq_length, seq_length / 2, mode);
  PoseList gt;
  for (int i = 0; i < seq_length; ++i) gt.push_back(pose_from_3x4(gt_3x4.data() + 12 * i));
  return snippet_ate(gt, pred);
}

PoseErrorStats PoseErrorAccumulator::stats() const {
  PoseErrorStats s;
  s.snippets = (int64_t)all.size();
  if (all.empty()) return s;
  double n = (double)all.size();
  for (const auto& e : all) {
    s.ate_mean += e.ate;
    s.rot_mean += e.rot_deg;
  }
  s.ate_mean /= n;
  s.rot_mean /= n;
  for (const auto& e : all) {
    s.ate_std += (e.ate - s.ate_mean) * (e.ate - s.ate_mean);
    s.rot_std += (e.rot_deg - s.rot_mean) * (e.rot_deg - s.rot_mean);
  }
  s.ate_std = std::sqrt(s.ate_std / n);
  s.rot_std = std::sqrt(s.rot_std / n);
  return s;
}

void write_tum_trajectory(const std::string& path, const PoseList& poses, const std::vector<double>& ts) {
  SFM_CHECK(poses.size() == ts.size(), "write_tum_trajectory ", path, ": ", poses.size(), " poses and ", ts.size(),
            " timestamps");
  std::string out;
  char buf[256];
  for (size_t i = 0; i < poses.size(); ++i) {
    Eigen::Quaterniond q(Eigen::Matrix3d(poses[i].topLeftCorner<3, 3>()));
    q.normalize();
    if (q.w() < 0) q.coeffs() *= -1.0;
    const auto t = poses[i].topRightCorner<3, 1>();
    std::snprintf(buf, sizeof(buf), "%.6f %.9f %.9f %.9f %.9f %.9f %.9f %.9f\n", ts[i], t(0), t(1), t(2), q.x(),
                  q.y(), q.z(), q.w());
    out += buf;
  }
  write_file_atomic(path, out);
}

}  // namespace sfm::eval
