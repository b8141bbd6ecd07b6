// Snippet pose metrics (eval/pose_metrics.h): the pose_vec2mat convention, the network-output
// chain, ATE against closed forms, scale and world-frame invariance, statistics, TUM files. (The
// eval library is built only with OpenCV, hence the _cv suffix; nothing here uses OpenCV.)
#include <catch2/catch.hpp>
#include <Eigen/Geometry>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/ops.h"
#include "engine/rng.h"
#include "eval/pose_metrics.h"

using namespace sfm;
using namespace sfm::eval;
namespace fs = std::filesystem;

namespace {
Pose make_pose(const Eigen::Matrix3d& R, const Eigen::Vector3d& t) {
  Pose T = Pose::Identity();
  T.topLeftCorner<3, 3>() = R;
  T.topRightCorner<3, 1>() = t;
  return T;
}
Eigen::Matrix3d rot(double angle, const Eigen::Vector3d& axis) {
  return Eigen::AngleAxisd(angle, axis.normalized()).toRotationMatrix();
}
// A smooth camera-to-world drive: forward along z, yawing, starting away from the origin.
PoseList drive(int n, double step, Rng& rng) {
  PoseList out;
  Eigen::Matrix3d R = rot(0.3, {0.2, 1, 0.1});
  Eigen::Vector3d p(5, -1, 12);
  for (int i = 0; i < n; ++i) {
    out.push_back(make_pose(R, p));
    R = R * rot(0.02 + 0.01 * rng.uniform(), {0.1, 1, 0.05});
    p += R * Eigen::Vector3d(0.05 * rng.uniform(), 0.01, step);
  }
  return out;
}
}  // namespace

TEST_CASE("pose metrics: pose_vec_to_mat is pose_vec2mat (R = Rx Ry Rz, X_s = R X_t + t)", "[eval][pose]") {
  double v[6] = {1, 2, 3, 0, 0, M_PI / 2};
  Pose T = pose_vec_to_mat(v);
  Eigen::Matrix3d Rz;
  Rz << 0, -1, 0, 1, 0, 0, 0, 0, 1;
  CHECK((T.topLeftCorner<3, 3>() - Rz).norm() < 1e-15);
  CHECK(T.topRightCorner<3, 1>() == Eigen::Vector3d(1, 2, 3));
  // Composition order: Rx(a) Ry(b) Rz(c) with right-handed elementary rotations.
  double w[6] = {0, 0, 0, 0.3, -0.2, 0.7};
  Eigen::Matrix3d want = rot(0.3, Eigen::Vector3d::UnitX()) * rot(-0.2, Eigen::Vector3d::UnitY()) *
                         rot(0.7, Eigen::Vector3d::UnitZ());
  CHECK((pose_vec_to_mat(w).topLeftCorner<3, 3>() - want).norm() < 1e-14);
  // The same numbers as the engine's pose_vec2mat op (what the warp trains with), float64.
  Tensor pt = Tensor::from_vector(std::vector<double>{0.1, -0.2, 0.3, 0.3, -0.2, 0.7}, Shape{1, 6});
  std::vector<double> op = pose_vec2mat(pt).to_vector_f64();  // [1,3,4]
  double pv[6] = {0.1, -0.2, 0.3, 0.3, -0.2, 0.7};
  Pose mine = pose_vec_to_mat(pv);
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 4; ++j) CHECK(mine(i, j) == Approx(op[4 * i + j]).margin(1e-15));
}

TEST_CASE("pose metrics: exact predictions score zero; the scale is fitted", "[eval][pose]") {
  Rng rng(11);
  PoseList gt = drive(5, 1.0, rng);
  PoseErrors e = snippet_ate(gt, gt);
  CHECK(e.ate < 1e-12);
  CHECK(e.rot_deg < 1e-6);  // acos near 1 loses precision: 1e-6 degrees is ~1e-8 rad
  CHECK(e.scale == Approx(1.0).epsilon(1e-12));
  // The prediction in a 0.3x smaller world (monocular scale): still zero after the fit.
  PoseList rel = relative_to_first(gt), small;
  for (const Pose& p : rel) small.push_back(make_pose(p.topLeftCorner<3, 3>(), 0.3 * p.topRightCorner<3, 1>()));
  e = snippet_ate(gt, small);
  CHECK(e.ate < 1e-12);
  CHECK(e.scale == Approx(1.0 / 0.3).epsilon(1e-12));
  // The ground truth's world frame does not matter (both are taken relative to frame 0).
  Pose world = make_pose(rot(1.1, {1, 2, 3}), {10, -4, 7});
  PoseList moved;
  for (const Pose& p : gt) moved.push_back(world * p);
  CHECK(snippet_ate(moved, small).ate < 1e-12);
}

TEST_CASE("pose metrics: ATE and rotation error of known offsets", "[eval][pose]") {
  // gt positions (i, 0, 0), i = 0..4; prediction (i, 1, 0) for i >= 1 (frame 0 stays the origin).
  // s = sum i^2 / (sum i^2 + 4) = 30/34; errors ((s-1) i, s, 0): sum of squares
  // 30 (s-1)^2 + 4 s^2 = (120 + 900)/289, ATE = sqrt(1020/289)/5 = sqrt(1020)/85.
  // Rotations: every predicted frame >= 1 is turned 10 degrees more about y: error 10 degrees.
  PoseList gt, pred;
  for (int i = 0; i < 5; ++i) {
    gt.push_back(make_pose(Eigen::Matrix3d::Identity(), {(double)i, 0, 0}));
    Eigen::Matrix3d R = i == 0 ? Eigen::Matrix3d::Identity() : rot(10 * M_PI / 180, Eigen::Vector3d::UnitY());
    pred.push_back(make_pose(R, {(double)i, i == 0 ? 0.0 : 1.0, 0}));
  }
  PoseErrors e = snippet_ate(gt, pred);
  CHECK(e.scale == Approx(30.0 / 34.0).epsilon(1e-14));
  CHECK(e.ate == Approx(std::sqrt(1020.0) / 85.0).epsilon(1e-14));
  CHECK(e.rot_deg == Approx(10.0).epsilon(1e-10));
  // A prediction that never moves: every scale fits equally, ATE = sqrt(sum |gt_i|^2)/N.
  PoseList still(5, Pose::Identity());
  e = snippet_ate(gt, still);
  CHECK(e.scale == 0.0);
  CHECK(e.ate == Approx(std::sqrt(30.0) / 5).epsilon(1e-14));
  REQUIRE_THROWS_WITH(snippet_ate(gt, PoseList(4, Pose::Identity())), Catch::Contains("5 ground-truth") && Catch::Contains("4 predicted"));
  REQUIRE_THROWS_WITH(snippet_ate(PoseList(1, Pose::Identity()), PoseList(1, Pose::Identity())), Catch::Contains("at least 2"));
}

TEST_CASE("pose metrics: position noise of known size on a scaled prediction", "[eval][pose]") {
  // The prediction is the true snippet at scale 1/2.5 plus a fixed position perturbation d_i
  // (frames 1..4). With q_i = true positions and p_i = q_i/2.5 + d_i, the fitted scale and ATE
  // follow from the closed form s = sum(q.p)/sum(p.p), ATE = sqrt(sum |s p_i - q_i|^2)/N, here
  // evaluated independently of the library (positions only, the frames are already relative).
  Rng rng(5);
  PoseList gt = relative_to_first(drive(5, 0.9, rng));
  std::vector<Eigen::Vector3d> d{{0, 0, 0}, {0.02, -0.01, 0.03}, {-0.03, 0.0, 0.01}, {0.01, 0.02, -0.02}, {0.0, -0.02, 0.04}};
  PoseList pred;
  double num = 0, den = 0;
  std::vector<Eigen::Vector3d> p(5), q(5);
  for (int i = 0; i < 5; ++i) {
    q[i] = gt[i].topRightCorner<3, 1>();
    p[i] = q[i] / 2.5 + d[i];
    pred.push_back(make_pose(gt[i].topLeftCorner<3, 3>(), p[i]));
    num += q[i].dot(p[i]);
    den += p[i].dot(p[i]);
  }
  double s = num / den, se = 0;
  for (int i = 0; i < 5; ++i) se += (s * p[i] - q[i]).squaredNorm();
  PoseErrors e = snippet_ate(gt, pred);
  CHECK(e.scale == Approx(s).epsilon(1e-12));
  CHECK(e.ate == Approx(std::sqrt(se) / 5).epsilon(1e-12));
  // Sanity of the size: about |d| * 2.5 / sqrt(5) ~ 0.05 here, far from 0 and from the path length.
  CHECK(e.ate > 0.01);
  CHECK(e.ate < 0.2);
}

TEST_CASE("pose metrics: network outputs -> camera poses relative to the first frame", "[eval][pose]") {
  // Build the network outputs an exact PoseExpNet would give: for each source s the transform
  // target -> source is the inverse of source's camera pose in the target frame.
  Rng rng(7);
  for (int N : {3, 5}) {
    PoseList cam = drive(N, 1.2, rng);  // camera-to-world
    int tgt = N / 2;
    Pose to_tgt = rigid_inverse(cam[tgt]);
    std::vector<double> vecs;
    for (int i = 0; i < N; ++i) {
      if (i == tgt) continue;
      Pose T = rigid_inverse(to_tgt * cam[i]);  // target -> source i
      // Euler angles of R = Rx(a) Ry(b) Rz(c): b = asin(R02), a = atan2(-R12, R22), c = atan2(-R01, R00).
      Eigen::Matrix3d R = T.topLeftCorner<3, 3>();
      double b = std::asin(R(0, 2)), a = std::atan2(-R(1, 2), R(2, 2)), c = std::atan2(-R(0, 1), R(0, 0));
      vecs.insert(vecs.end(), {T(0, 3), T(1, 3), T(2, 3), a, b, c});
    }
    std::vector<double> gt12;
    for (const Pose& p : cam)
      for (int r = 0; r < 3; ++r)
        for (int c = 0; c < 4; ++c) gt12.push_back(p(r, c));
    PoseErrors e = snippet_ate_from_network(vecs, gt12, N);
    CHECK(e.ate < 1e-12);
    CHECK(e.rot_deg < 1e-6);
    CHECK(e.scale == Approx(1.0).epsilon(1e-12));
    // Halved translations (the network's own scale): zero error, scale 2.
    std::vector<double> half = vecs;
    for (size_t k = 0; k < half.size(); k += 6)
      for (int j = 0; j < 3; ++j) half[k + j] *= 0.5;
    e = snippet_ate_from_network(half, gt12, N);
    CHECK(e.ate < 1e-12);
    CHECK(e.scale == Approx(2.0).epsilon(1e-12));
    // The float overload of the chain gives the same poses to float precision.
    std::vector<float> vf(vecs.begin(), vecs.end());
    PoseList a = snippet_poses_from_network(vf.data(), N, tgt), b = snippet_poses_from_network(vecs.data(), N, tgt);
    for (int i = 0; i < N; ++i) CHECK((a[i] - b[i]).norm() < 1e-5);
    CHECK((b[0] - Pose::Identity()).norm() < 1e-15);
  }
  REQUIRE_THROWS_WITH(snippet_ate_from_network(std::vector<double>(6), std::vector<double>(36), 3),
                      Catch::Contains("12 pose numbers") || Catch::Contains("6 pose numbers"));
}

TEST_CASE("pose metrics: mean and population std over snippets", "[eval][pose]") {
  PoseErrorAccumulator acc;
  for (double a : {1.0, 2.0, 3.0, 4.0}) acc.add(PoseErrors{a, 10 * a, 1.0});
  PoseErrorStats s = acc.stats();
  CHECK(s.snippets == 4);
  CHECK(s.ate_mean == Approx(2.5).epsilon(1e-15));
  CHECK(s.ate_std == Approx(std::sqrt(1.25)).epsilon(1e-15));  // np.std (ddof = 0)
  CHECK(s.rot_mean == Approx(25.0).epsilon(1e-15));
  CHECK(s.rot_std == Approx(10 * std::sqrt(1.25)).epsilon(1e-15));
  CHECK(PoseErrorAccumulator{}.stats().snippets == 0);
}

TEST_CASE("pose metrics: TUM trajectory files", "[eval][pose]") {
  fs::path dir = fs::temp_directory_path() / "sfm_test_pose_metrics";
  fs::create_directories(dir);
  std::string path = (dir / "000003.txt").string();
  PoseList poses{Pose::Identity(), make_pose(rot(M_PI / 2, Eigen::Vector3d::UnitZ()), {1, 2, 3}),
                 make_pose(rot(-3.0, {1, 1, 0}), {-0.5, 0.25, 7})};
  write_tum_trajectory(path, poses, {3, 4, 5});
  REQUIRE_FALSE(fs::exists(path + ".tmp"));
  std::ifstream f(path);
  std::string line;
  int n = 0;
  while (std::getline(f, line)) {
    std::istringstream is(line);
    double v[8];
    for (double& x : v) REQUIRE((is >> x));
    std::string extra;
    REQUIRE_FALSE((is >> extra));
    CHECK(v[0] == 3 + n);
    Eigen::Quaterniond q(v[7], v[4], v[5], v[6]);
    CHECK(q.norm() == Approx(1.0).epsilon(1e-8));
    CHECK(v[7] >= 0);
    // Values are printed with 9 decimals: 1e-8.
    CHECK((q.toRotationMatrix() - poses[n].topLeftCorner<3, 3>()).norm() < 1e-8);
    CHECK((Eigen::Vector3d(v[1], v[2], v[3]) - poses[n].topRightCorner<3, 1>()).norm() < 1e-8);
    ++n;
  }
  CHECK(n == 3);
  // 90 degrees about z: (qx, qy, qz, qw) = (0, 0, sin 45, cos 45).
  std::ifstream g(path);
  std::getline(g, line);
  std::getline(g, line);
  CHECK(line == "4.000000 1.000000000 2.000000000 3.000000000 0.000000000 0.000000000 0.707106781 0.707106781");
  REQUIRE_THROWS_WITH(write_tum_trajectory(path, poses, {1.0}), Catch::Contains(path));
}
