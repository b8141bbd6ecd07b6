#include "eval/odometry_metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "boundary/error.h"

namespace sfm::eval {

OdometryAlign parse_odometry_align(const std::string& s) {
  if (s == "none") return OdometryAlign::None;
  if (s == "scale") return OdometryAlign::Scale;
  if (s == "scale_7dof") return OdometryAlign::Scale7Dof;
  if (s == "7dof") return OdometryAlign::SevenDof;
  if (s == "6dof") return OdometryAlign::SixDof;
  fail("--align: expected none, scale, scale_7dof, 7dof or 6dof, got '", s, "'");
}

const char* odometry_align_name(OdometryAlign a) {
  switch (a) {
    case OdometryAlign::None: return "none";
    case OdometryAlign::Scale: return "scale";
    case OdometryAlign::Scale7Dof: return "scale_7dof";
    case OdometryAlign::SevenDof: return "7dof";
    case OdometryAlign::SixDof: return "6dof";
  }
  return "?";
}

Similarity umeyama_alignment(const Points& x, const Points& y, bool with_scale) {
  SFM_CHECK(x.size() == y.size(), "umeyama_alignment: ", x.size(), " source points and ", y.size(), " target points");
  SFM_CHECK(x.size() >= 2, "umeyama_alignment: needs at least 2 points, got ", x.size());
  const double n = (double)x.size();
  Eigen::Vector3d mx = Eigen::Vector3d::Zero(), my = Eigen::Vector3d::Zero();
  for (size_t i = 0; i < x.size(); ++i) {
    mx += x[i];
    my += y[i];
  }
  mx /= n;
  my /= n;
  double var_x = 0;
  Eigen::Matrix3d cov = Eigen::Matrix3d::Zero();
  for (size_t i = 0; i < x.size(); ++i) {
    var_x += (x[i] - mx).squaredNorm();
    cov += (y[i] - my) * (x[i] - mx).transpose();
  }
  var_x /= n;
  cov /= n;
  SFM_CHECK(var_x > 0, "umeyama_alignment: the predicted positions are all the same point (nothing to align)");
  Eigen::JacobiSVD<Eigen::Matrix3d> svd(cov, Eigen::ComputeFullU | Eigen::ComputeFullV);
  Eigen::Matrix3d S = Eigen::Matrix3d::Identity();
  // The closest proper rotation: flip the weakest direction when U V^T would be a reflection.
  if (svd.matrixU().determinant() * svd.matrixV().determinant() < 0) S(2, 2) = -1;
  Similarity sim;
  sim.R = svd.matrixU() * S * svd.matrixV().transpose();
  sim.scale = with_scale ? (svd.singularValues().asDiagonal() * S).trace() / var_x : 1.0;
  sim.t = my - sim.scale * sim.R * mx;
  return sim;
}

double least_squares_scale(const Points& x, const Points& y) {
  SFM_CHECK(x.size() == y.size(), "least_squares_scale: ", x.size(), " and ", y.size(), " points");
  double num = 0, den = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    num += x[i].dot(y[i]);
    den += x[i].dot(x[i]);
  }
  return den > 0 ? num / den : 0.0;
}

Points positions(const PoseList& poses) {
  Points p;
  p.reserve(poses.size());
  for (const Pose& P : poses) p.push_back(P.topRightCorner<3, 1>());
  return p;
}

void align_trajectories(const PoseList& gt, const PoseList& pred, OdometryAlign align, PoseList& gt_out,
                        PoseList& pred_out, Similarity* used, PoseList* pred_scaled) {
  SFM_CHECK(gt.size() == pred.size(), "align_trajectories: ", gt.size(), " ground-truth poses and ", pred.size(),
            " predicted ones");
  SFM_CHECK(!gt.empty(), "align_trajectories: empty trajectories");
  // The general inverse, as the devkit and kitti-odom-eval take it (the files are only rigid
  // within kRigidTolerance).
  const Pose g0 = gt[0].inverse(), p0 = pred[0].inverse();
  PoseList g, p;
  for (size_t i = 0; i < gt.size(); ++i) {
    g.push_back(g0 * gt[i]);
    p.push_back(p0 * pred[i]);
  }
  Similarity sim;
  if (align == OdometryAlign::Scale) {
    sim.scale = least_squares_scale(positions(p), positions(g));
  } else if (align != OdometryAlign::None) {
    sim = umeyama_alignment(positions(p), positions(g), align != OdometryAlign::SixDof);
    if (align == OdometryAlign::Scale7Dof) {
      sim.R.setIdentity();
      sim.t.setZero();
    }
  }
  Pose T = Pose::Identity();
  T.topLeftCorner<3, 3>() = sim.R;
  T.topRightCorner<3, 1>() = sim.t;
  for (Pose& P : p) P.topRightCorner<3, 1>() *= sim.scale;
  if (pred_scaled) *pred_scaled = p;
  for (Pose& P : p) P = T * P;
  gt_out = std::move(g);
  pred_out = std::move(p);
  if (used) *used = sim;
}

double rotation_angle(const Eigen::Matrix3d& R) {
  const double d = 0.5 * (R(0, 0) + R(1, 1) + R(2, 2) - 1.0);
  return std::acos(std::max(std::min(d, 1.0), -1.0));
}

std::vector<double> travelled_distances(const PoseList& poses) {
  std::vector<double> d(poses.size(), 0.0);
  for (size_t i = 1; i < poses.size(); ++i)
    d[i] = d[i - 1] + (poses[i].topRightCorner<3, 1>() - poses[i - 1].topRightCorner<3, 1>()).norm();
  return d;
}

const std::vector<double>& kitti_segment_lengths() {
  static const std::vector<double> lengths{100, 200, 300, 400, 500, 600, 700, 800};
  return lengths;
}

std::vector<SegmentError> segment_errors(const PoseList& gt, const PoseList& pred, const std::vector<double>& lengths,
                                         int step) {
  SFM_CHECK(gt.size() == pred.size(), "segment_errors: ", gt.size(), " ground-truth poses and ", pred.size(),
            " predicted ones");
  SFM_CHECK(step > 0, "segment_errors: step ", step);
  for (double L : lengths) SFM_CHECK(L > 0 && std::isfinite(L), "segment_errors: segment length ", L);
  const std::vector<double> dist = travelled_distances(gt);
  const int n = (int)gt.size();
  std::vector<SegmentError> out;
  for (int first = 0; first < n; first += step) {
    for (double L : lengths) {
      int last = -1;
      for (int i = first; i < n; ++i)
        if (dist[i] > dist[first] + L) {
          last = i;
          break;
        }
      if (last < 0) continue;
      const Pose dg = gt[first].inverse() * gt[last], dp = pred[first].inverse() * pred[last];
      const Pose E = dp.inverse() * dg;
      SegmentError e;
      e.first = first;
      e.last = last;
      e.length = L;
      e.t = E.topRightCorner<3, 1>().norm() / L;
      e.r = rotation_angle(E.topLeftCorner<3, 3>()) / L;
      out.push_back(e);
    }
  }
  return out;
}

double absolute_trajectory_error(const PoseList& gt, const PoseList& pred) {
  SFM_CHECK(gt.size() == pred.size() && !gt.empty(), "absolute_trajectory_error: ", gt.size(),
            " ground-truth poses and ", pred.size(), " predicted ones");
  double se = 0;
  for (size_t i = 0; i < gt.size(); ++i)
    se += (gt[i].topRightCorner<3, 1>() - pred[i].topRightCorner<3, 1>()).squaredNorm();
  return std::sqrt(se / (double)gt.size());
}

RelativePoseError relative_pose_error(const PoseList& gt, const PoseList& pred) {
  SFM_CHECK(gt.size() == pred.size() && gt.size() >= 2, "relative_pose_error: ", gt.size(),
            " ground-truth poses and ", pred.size(), " predicted ones (at least 2 each)");
  RelativePoseError r;
  for (size_t i = 0; i + 1 < gt.size(); ++i) {
    const Pose dg = gt[i].inverse() * gt[i + 1], dp = pred[i].inverse() * pred[i + 1];
    const Pose E = dg.inverse() * dp;
    r.trans_m += E.topRightCorner<3, 1>().norm();
    r.rot_deg += rotation_angle(E.topLeftCorner<3, 3>());
  }
  const double m = (double)(gt.size() - 1);
  r.trans_m /= m;
  r.rot_deg = r.rot_deg / m * 180.0 / M_PI;
  return r;
}

OdometryErrors evaluate_trajectory(const PoseList& gt, const PoseList& pred, const OdometryOptions& opt) {
  SFM_CHECK(gt.size() == pred.size(), "evaluate_trajectory: ", gt.size(), " ground-truth poses and ", pred.size(),
            " predicted ones");
  SFM_CHECK(gt.size() >= 2, "evaluate_trajectory: needs at least 2 poses, got ", gt.size());
  PoseList g, p, scaled;
  OdometryErrors e;
  align_trajectories(gt, pred, opt.align, g, p, &e.alignment, &scaled);
  e.frames = (int)g.size();
  e.length_m = travelled_distances(g).back();
  e.segments = segment_errors(g, scaled, opt.lengths, opt.step);
  if (e.segments.empty()) {
    e.t_err_percent = e.r_err_deg_per_100m = std::numeric_limits<double>::quiet_NaN();
  } else {
    double t = 0, r = 0;
    for (const SegmentError& s : e.segments) {
      t += s.t;
      r += s.r;
    }
    e.t_err_percent = 100.0 * t / (double)e.segments.size();
    e.r_err_deg_per_100m = 100.0 * 180.0 / M_PI * r / (double)e.segments.size();
  }
  e.ate_m = absolute_trajectory_error(g, p);
  RelativePoseError rpe = relative_pose_error(g, scaled);
  e.rpe_m = rpe.trans_m;
  e.rpe_deg = rpe.rot_deg;
  return e;
}

std::vector<LengthErrors> errors_by_length(const std::vector<SegmentError>& segments) {
  std::map<double, LengthErrors> by;
  for (const SegmentError& s : segments) {
    LengthErrors& l = by[s.length];
    l.length = s.length;
    l.t_err_percent += s.t;
    l.r_err_deg_per_100m += s.r;
    ++l.segments;
  }
  std::vector<LengthErrors> out;
  for (auto& [len, l] : by) {
    l.t_err_percent *= 100.0 / l.segments;
    l.r_err_deg_per_100m *= 100.0 * 180.0 / M_PI / l.segments;
    out.push_back(l);
  }
  return out;
}

}  // namespace sfm::eval
