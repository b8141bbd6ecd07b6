// Whole-trajectory odometry metrics (eval/odometry_metrics.h, eval/kitti_trajectory.h,
// eval/odometry_eval.h): the planted-error fixtures of tests/reference/fixture_odometry.py under
// every alignment, closed forms of the segment logic, ATE, RPE and Umeyama, the trajectory files'
// errors, and the chaining of snippets into one trajectory. (The eval library is built only with
// OpenCV, hence _cv.)
#include <catch2/catch.hpp>

#include <Eigen/Geometry>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "boundary/error.h"
#include "engine/rng.h"
#include "eval/kitti_trajectory.h"
#include "eval/odometry_eval.h"
#include "eval/odometry_metrics.h"
#include "eval/pose_metrics.h"
#include "test_support.h"

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
fs::path fresh_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / "sfm_test_odometry" / name;
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}
void write_text(const fs::path& p, const std::string& s) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << s;
}
// A straight drive along z, 1 m per frame, camera-to-world.
PoseList straight(int n, double step = 1.0) {
  PoseList out;
  for (int i = 0; i < n; ++i) out.push_back(make_pose(Eigen::Matrix3d::Identity(), {0, 0, step * i}));
  return out;
}
std::string kitti_lines(const PoseList& poses, bool indexed = false) {
  std::ostringstream os;
  os.precision(17);
  for (size_t i = 0; i < poses.size(); ++i) {
    if (indexed) os << i << " ";
    for (int k = 0; k < 12; ++k) os << poses[i](k / 4, k % 4) << (k == 11 ? "\n" : " ");
  }
  return os.str();
}

}  // namespace

TEST_CASE("odometry: the planted-error fixtures match the NumPy reference to 1e-6", "[eval][odometry]") {
  // tests/reference/fixture_odometry.py: 09 a pure scale error (0.37), 10 a constant yaw drift
  // (0.1 degree per frame, 13-number file), 11 noise at a third of the scale; about 1 km each.
  // Both sides read the same files (12 significant digits), so they score identical numbers and
  // differ only by the order of floating-point operations (~1e-12 relative measured); 1e-6
  // relative (absolute below 1) is the bar with a wide margin.
  const fs::path dir = fs::path(sfm::test::source_dir()) / "tests" / "fixtures" / "odometry";
  REQUIRE(fs::exists(dir / "expected.json"));
  const nlohmann::json want = nlohmann::json::parse(std::ifstream(dir / "expected.json"));
  auto close = [](double got, double ref) { return std::fabs(got - ref) <= 1e-6 * std::max(1.0, std::fabs(ref)); };
  int compared = 0;
  for (const char* align : {"none", "scale", "scale_7dof", "7dof", "6dof"}) {
    OdometryEvalRun run;
    run.gt_dir = (dir / "gt").string();
    run.pred_dir = (dir / "pred").string();
    run.seqs = {"09", "10", "11"};
    run.metrics.align = parse_odometry_align(align);
    const nlohmann::json got = odometry_eval_json(run, evaluate_odometry(run));
    const nlohmann::json& ref = want["alignments"][align];
    REQUIRE(got["align"] == ref["align"]);
    for (const char* seq : {"09", "10", "11"}) {
      for (const char* key : {"t_err_percent", "r_err_deg_per_100m", "ate_m", "rpe_m", "rpe_deg", "length_m", "scale"}) {
        const double g = got["sequences"][seq][key], r = ref["sequences"][seq][key];
        INFO(align << " " << seq << " " << key << ": C++ " << g << ", reference " << r);
        CHECK(close(g, r));
        ++compared;
      }
      CHECK(got["sequences"][seq]["frames"] == ref["sequences"][seq]["frames"]);
      CHECK(got["sequences"][seq]["segments"] == ref["sequences"][seq]["segments"]);
    }
    for (const char* key : {"t_err_percent", "r_err_deg_per_100m", "ate_m", "rpe_m", "rpe_deg"}) {
      INFO(align << " mean " << key);
      CHECK(close(got["mean"][key], ref["mean"][key]));
    }
    for (const char* key : {"t_err_percent", "r_err_deg_per_100m", "length_m"}) {
      INFO(align << " total " << key);
      CHECK(close(got["total"][key], ref["total"][key]));
    }
    CHECK(got["total"]["segments"] == ref["total"]["segments"]);
    CHECK(got["total"]["frames"] == ref["total"]["frames"]);
  }
  CHECK(compared == 5 * 3 * 7);
  // The planted facts, read off the C++ results directly: a pure scale error is removed by every
  // alignment that fits a scale and leaves rotations exact; the drift is 0.1 degree per step.
  OdometryEvalRun run;
  run.gt_dir = (dir / "gt").string();
  run.pred_dir = (dir / "pred").string();
  run.metrics.align = OdometryAlign::SevenDof;
  OdometryEvalResult r = evaluate_odometry(run);  // every .txt of pred/: 09, 10, 11
  REQUIRE(r.sequences.size() == 3);
  CHECK(r.sequences[0].name == "09");
  CHECK(r.sequences[0].errors.t_err_percent < 1e-9);
  CHECK(r.sequences[0].errors.ate_m < 1e-9);
  CHECK(r.sequences[0].errors.r_err_deg_per_100m == 0.0);
  CHECK(r.sequences[0].errors.alignment.scale == Approx(1 / 0.37).epsilon(1e-9));
  CHECK(r.sequences[1].errors.rpe_deg == Approx(0.1).epsilon(1e-9));
}

TEST_CASE("odometry: segments as the devkit picks them, t_err of a scaled drive", "[eval][odometry]") {
  // 25 frames 1 m apart, lengths 5 and 10 m, a first frame every 10: a segment ends at the first
  // frame whose distance exceeds the start's by MORE than L (frame 5 is exactly 5 m: not it), so
  // (0,6), (0,11), (10,16), (10,21); from frame 20 no frame lies 5 m on. At half the scale and no
  // alignment the error is half the displacement: t = 0.5 * 6/5 = 0.6 and 0.5 * 11/10 = 0.55.
  PoseList gt = straight(25), pred = straight(25, 0.5);
  std::vector<SegmentError> seg = segment_errors(gt, pred, {5, 10}, 10);
  REQUIRE(seg.size() == 4);
  const int want[4][2] = {{0, 6}, {0, 11}, {10, 16}, {10, 21}};
  for (int i = 0; i < 4; ++i) {
    CHECK(seg[i].first == want[i][0]);
    CHECK(seg[i].last == want[i][1]);
    CHECK(seg[i].r == 0.0);
  }
  CHECK(seg[0].t == Approx(0.6).epsilon(1e-14));
  CHECK(seg[1].t == Approx(0.55).epsilon(1e-14));
  OdometryOptions opt;
  opt.lengths = {5, 10};
  OdometryErrors e = evaluate_trajectory(gt, pred, opt);
  CHECK(e.t_err_percent == Approx(57.5).epsilon(1e-13));
  CHECK(e.length_m == Approx(24.0).epsilon(1e-15));
  // With a least-squares scale the error vanishes; the default lengths find no segment in 24 m.
  opt.align = OdometryAlign::Scale;
  CHECK(evaluate_trajectory(gt, pred, opt).t_err_percent < 1e-12);
  OdometryErrors none = evaluate_trajectory(gt, pred);
  CHECK(none.segments.empty());
  CHECK(std::isnan(none.t_err_percent));
  // A yaw of a degrees in the last frame of a 10 m segment: r = a / L (radians per metre).
  PoseList turned = gt;
  turned[11] = make_pose(rot(0.02, Eigen::Vector3d::UnitY()), gt[11].topRightCorner<3, 1>());
  seg = segment_errors(gt, turned, {10}, 10);
  REQUIRE(seg.size() == 2);
  CHECK(seg[0].r == Approx(0.02 / 10).epsilon(1e-9));
  CHECK(seg[1].r == 0.0);
  // errors_by_length: the mean per length, in % and deg/100 m.
  std::vector<LengthErrors> by = errors_by_length(segment_errors(gt, pred, {5, 10}, 10));
  REQUIRE(by.size() == 2);
  CHECK(by[0].length == 5.0);
  CHECK(by[0].segments == 2);
  CHECK(by[0].t_err_percent == Approx(60.0).epsilon(1e-13));
  CHECK(by[1].t_err_percent == Approx(55.0).epsilon(1e-13));
}

TEST_CASE("odometry: ATE, RPE and the alignments against closed forms", "[eval][odometry]") {
  Rng rng(3);
  PoseList gt;
  Eigen::Matrix3d R = Eigen::Matrix3d::Identity();
  Eigen::Vector3d p(2, 0.5, -1);
  for (int i = 0; i < 40; ++i) {
    gt.push_back(make_pose(R, p));
    R = R * rot(0.05 + 0.02 * rng.uniform(), {0.1, 1, 0.05});
    p += R * Eigen::Vector3d(0.2 * rng.uniform(), 0.1 * std::sin(0.3 * i), 1.0);
  }
  // A constant position offset d on frames >= 1 (frame 0 stays: both start at the origin):
  // ATE = |d| sqrt((n-1)/n) without alignment; RPE: |d| on the first step only, so |d|/(n-1).
  const Eigen::Vector3d d(0.3, -0.4, 1.2);  // |d| = 1.3
  PoseList rel = relative_to_first(gt), off = rel;
  for (size_t i = 1; i < off.size(); ++i) off[i].topRightCorner<3, 1>() += d;
  OdometryErrors e = evaluate_trajectory(rel, off);
  CHECK(e.ate_m == Approx(1.3 * std::sqrt(39.0 / 40.0)).epsilon(1e-12));
  CHECK(e.rpe_m == Approx(1.3 / 39.0).epsilon(1e-12));
  CHECK(e.rpe_deg < 1e-5);  // acos of a rounded identity: ~1e-8 rad
  // A similarity of the whole prediction (scale 0.25, a rotation, a shift, another world frame):
  // 7dof recovers it (ATE 0); 6dof cannot fix the scale; scale_7dof and scale fix only the scale,
  // which is enough for t_err / r_err / RPE (relative motions) but not for ATE.
  const Pose world = make_pose(rot(0.7, {1, -2, 0.5}), {5, 6, -7});
  PoseList sim;
  for (const Pose& P : rel) sim.push_back(world * make_pose(P.topLeftCorner<3, 3>(), 0.25 * P.topRightCorner<3, 1>()));
  OdometryOptions opt;
  opt.lengths = {5, 10};
  opt.step = 5;
  for (OdometryAlign a : {OdometryAlign::SevenDof, OdometryAlign::Scale7Dof, OdometryAlign::Scale}) {
    opt.align = a;
    OdometryErrors s = evaluate_trajectory(gt, sim, opt);
    INFO(odometry_align_name(a));
    CHECK(s.alignment.scale == Approx(4.0).epsilon(1e-9));
    CHECK(s.t_err_percent < 1e-9);
    CHECK(s.rpe_m < 1e-9);
    REQUIRE(!s.segments.empty());
    if (a == OdometryAlign::SevenDof) CHECK(s.ate_m < 1e-9);
  }
  opt.align = OdometryAlign::SixDof;
  OdometryErrors six = evaluate_trajectory(gt, sim, opt);
  CHECK(six.alignment.scale == 1.0);
  // Every relative displacement is a quarter of the truth's: |E_t| = 0.75 |displacement|.
  double mean_disp = 0;
  for (const SegmentError& sg : six.segments)
    mean_disp += (rel[sg.last].topRightCorner<3, 1>() - rel[sg.first].topRightCorner<3, 1>()).norm() / sg.length;
  mean_disp /= (double)six.segments.size();
  CHECK(six.t_err_percent == Approx(75.0 * mean_disp).epsilon(1e-9));
  // Umeyama recovers a known similarity from points with spread in 3 dimensions.
  Points x, y;
  const Eigen::Matrix3d Rk = rot(1.2, {0.3, 0.2, 1});
  for (int i = 0; i < 10; ++i) {
    x.emplace_back(rng.uniform(-5, 5), rng.uniform(-5, 5), rng.uniform(-5, 5));
    y.push_back(2.5 * Rk * x.back() + Eigen::Vector3d(1, 2, 3));
  }
  Similarity s = umeyama_alignment(x, y, true);
  CHECK(s.scale == Approx(2.5).epsilon(1e-12));
  CHECK((s.R - Rk).norm() < 1e-12);
  CHECK((s.t - Eigen::Vector3d(1, 2, 3)).norm() < 1e-11);
  CHECK(umeyama_alignment(x, y, false).scale == 1.0);
  CHECK(least_squares_scale(x, y) > 0);
  REQUIRE_THROWS_WITH(umeyama_alignment(Points(3, Eigen::Vector3d(1, 1, 1)), Points(3, Eigen::Vector3d::Zero()), true),
                      Catch::Contains("all the same point"));
  REQUIRE_THROWS_WITH(evaluate_trajectory(gt, PoseList(gt.begin(), gt.end() - 1)),
                      Catch::Contains("40 ground-truth") && Catch::Contains("39 predicted"));
  CHECK(parse_odometry_align("scale_7dof") == OdometryAlign::Scale7Dof);
  REQUIRE_THROWS_WITH(parse_odometry_align("sim3"), Catch::Contains("--align") && Catch::Contains("sim3"));
}

TEST_CASE("odometry: KITTI trajectory files, and the errors that name file and line", "[eval][odometry]") {
  const fs::path dir = fresh_dir("files");
  PoseList poses = straight(3);
  poses[1] = make_pose(rot(0.3, {0, 1, 0}), {0.5, -0.25, 1});
  write_kitti_trajectory((dir / "w.txt").string(), poses);
  Trajectory t = read_kitti_trajectory((dir / "w.txt").string());
  REQUIRE(t.poses.size() == 3);
  CHECK_FALSE(t.indexed);
  CHECK(t.frames == std::vector<int64_t>{0, 1, 2});
  for (int i = 0; i < 3; ++i) CHECK((t.poses[i] - poses[i]).cwiseAbs().maxCoeff() < 1e-10);  // %.10e
  // 13 numbers: the leading frame index.
  Trajectory ti = parse_kitti_trajectory("4 " + kitti_lines({poses[0]}) + "\n9 " + kitti_lines({poses[1]}), "x.txt");
  CHECK(ti.indexed);
  CHECK(ti.frames == std::vector<int64_t>{4, 9});
  // Within the tolerance: a rotation printed with 4 decimals is accepted.
  std::string rounded = "0.9553 0 0.2955 0 0 1 0 0 -0.2955 0 0.9553 1\n";
  CHECK(parse_kitti_trajectory(rounded, "r.txt").poses.size() == 1);
  auto bad = [&](const std::string& text, const std::vector<std::string>& words) {
    write_text(dir / "bad.txt", text);
    const std::string path = (dir / "bad.txt").string();
    try {
      read_kitti_trajectory(path);
      FAIL("no error for: " << text);
    } catch (const sfm::Error& e) {
      const std::string m = e.what();
      INFO(m);
      CHECK(m.find(path) != std::string::npos);
      for (const auto& w : words) CHECK(m.find(w) != std::string::npos);
    }
  };
  const std::string good = kitti_lines({poses[0]});
  bad(good + "1 0 0 0 0 1 0 0 0 0 1\n", {"line 2", "11 numbers"});
  bad(good + "7 " + good, {"line 2", "13 numbers", "lines before have 12"});
  bad(good + "1 0 0 0 0 1 0 nan 0 0 1 0\n", {"line 2", "'nan' is not a finite number"});
  bad(good + "1 0 0 0 0 1 0 x 0 0 1 0\n", {"line 2", "'x' is not a number"});
  bad(good + "1.01 0 0 0 0 1.01 0 0 0 0 1.01 0\n", {"line 2", "not orthonormal"});  // a similarity, s = 1.01
  bad(good + "1 0.1 0 0 0 1 0 0 0 0 1 0\n", {"line 2", "not orthonormal"});  // a shear
  bad("1 0 0 0 0 1 0 0 0 0 -1 0\n", {"line 1", "reflection"});
  bad("3 " + good + "3 " + good, {"line 2", "does not follow"});
  bad("-1 " + good, {"line 1", "frame index"});
  bad("\n\n", {"holds no poses"});
  REQUIRE_THROWS_WITH(read_kitti_trajectory((dir / "none.txt").string()), Catch::Contains("none.txt"));
}

TEST_CASE("odometry: eval odometry names the sequence and the file it cannot use", "[eval][odometry]") {
  const fs::path dir = fresh_dir("eval");
  PoseList gt = straight(30);
  write_text(dir / "gt" / "09.txt", kitti_lines(gt));
  write_text(dir / "gt" / "10" / "poses.txt", kitti_lines(gt));  // a formatted scene folder
  write_text(dir / "pred" / "09.txt", kitti_lines(straight(30, 0.5)));
  write_text(dir / "pred" / "10.txt", kitti_lines(straight(30, 0.5), true));
  OdometryEvalRun run;
  run.gt_dir = (dir / "gt").string();
  run.pred_dir = (dir / "pred").string();
  run.metrics.lengths = {10};
  run.metrics.align = OdometryAlign::Scale;
  OdometryEvalResult r = evaluate_odometry(run);
  REQUIRE(r.sequences.size() == 2);
  CHECK(r.sequences[1].gt_file == (dir / "gt" / "10" / "poses.txt").string());
  CHECK(r.sequences[1].errors.t_err_percent < 1e-9);
  CHECK(r.total_segments == 4);
  CHECK(r.total.frames == 60);
  // A sequence with no prediction, no ground truth, another length, other frame indices, a NaN.
  run.seqs = {"09", "11"};
  write_text(dir / "pred" / "11.txt", kitti_lines(gt));
  CHECK_THROWS_WITH(evaluate_odometry(run), Catch::Contains("sequence 11 has no ground truth") &&
                                                Catch::Contains((dir / "gt" / "11.txt").string()) &&
                                                Catch::Contains((dir / "gt" / "11" / "poses.txt").string()));
  fs::remove(dir / "pred" / "11.txt");
  write_text(dir / "gt" / "11.txt", kitti_lines(gt));
  CHECK_THROWS_WITH(evaluate_odometry(run), Catch::Contains("sequence 11 has no prediction") &&
                                                Catch::Contains((dir / "pred" / "11.txt").string()));
  write_text(dir / "pred" / "11.txt", kitti_lines(straight(29)));
  CHECK_THROWS_WITH(evaluate_odometry(run), Catch::Contains("sequence 11") && Catch::Contains("has 29 poses") &&
                                                Catch::Contains("has 30"));
  write_text(dir / "gt" / "11.txt", kitti_lines(straight(29), true));
  std::string shifted;
  {
    std::istringstream is(kitti_lines(straight(29), true));
    std::string line;
    int i = 0;
    while (std::getline(is, line)) shifted += (i++ == 28 ? "50" + line.substr(line.find(' ')) : line) + "\n";
  }
  write_text(dir / "pred" / "11.txt", shifted);
  CHECK_THROWS_WITH(evaluate_odometry(run), Catch::Contains("sequence 11: pose 29 is frame 50") &&
                                                Catch::Contains("but frame 28"));
  write_text(dir / "pred" / "11.txt", "nan" + kitti_lines(straight(29)).substr(1));
  CHECK_THROWS_WITH(evaluate_odometry(run), Catch::Contains((dir / "pred" / "11.txt").string()) &&
                                                Catch::Contains("line 1") && Catch::Contains("not a finite number"));
  run.gt_dir = (dir / "nothing").string();
  CHECK_THROWS_WITH(evaluate_odometry(run), Catch::Contains("--gt") && Catch::Contains("nothing"));
  CHECK(parse_sequence_list("09, 10") == std::vector<std::string>{"09", "10"});
  CHECK_THROWS_WITH(parse_sequence_list("09,,10"), Catch::Contains("empty"));
  CHECK_THROWS_WITH(parse_sequence_list("09,09"), Catch::Contains("09 is named twice"));
}

TEST_CASE("odometry: snippets chained into one trajectory reproduce the drive", "[eval][odometry][pose]") {
  // Exact snippets (every window of N frames, relative to its first) of a known drive: the chain
  // is the drive relative to its first frame, whichever snippet each step comes from.
  Rng rng(9);
  PoseList cam;
  Eigen::Matrix3d R = rot(0.4, {0, 1, 0});
  Eigen::Vector3d p(1, 2, 3);
  for (int i = 0; i < 12; ++i) {
    cam.push_back(make_pose(R, p));
    R = R * rot(0.03 + 0.05 * rng.uniform(), {0.2, 1, 0.1});
    p += R * Eigen::Vector3d(0.1 * rng.uniform(), 0.02, 1.0 + rng.uniform());
  }
  const PoseList want = relative_to_first(cam);
  for (int N : {3, 5}) {
    std::vector<PoseList> snippets;
    for (int k = 0; k + N <= (int)cam.size(); ++k)
      snippets.push_back(relative_to_first(PoseList(cam.begin() + k, cam.begin() + k + N)));
    PoseList got = chain_snippets(snippets, N / 2);
    REQUIRE(got.size() == cam.size());
    for (size_t i = 0; i < got.size(); ++i) CHECK((got[i] - want[i]).cwiseAbs().maxCoeff() < 1e-12);
    // The step 5 -> 6 comes from the snippet whose target is frame 5 (k = 5 - N/2): corrupt that
    // snippet's later frames and only steps at or after 5 -> 6 change.
    std::vector<PoseList> bent = snippets;
    const int k = 5 - N / 2;
    for (int f = N / 2 + 1; f < N; ++f) bent[k][f].topRightCorner<3, 1>() += Eigen::Vector3d(0, 0, 10);
    PoseList b = chain_snippets(bent, N / 2);
    for (int i = 0; i <= 5; ++i) CHECK((b[i] - want[i]).cwiseAbs().maxCoeff() < 1e-12);
    CHECK((b[6] - want[6]).cwiseAbs().maxCoeff() > 1);
  }
  REQUIRE_THROWS_WITH(chain_snippets({}, 1), Catch::Contains("no snippets"));
}
