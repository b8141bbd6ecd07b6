#include "eval/odometry_eval.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <set>
#include <sstream>

#include "boundary/error.h"
#include "eval/colormap.h"  // write_png_atomic
#include "eval/kitti_trajectory.h"
#include "eval/odometry_plots.h"

namespace fs = std::filesystem;

namespace sfm::eval {
namespace {

constexpr const char* kWho = "sfm eval odometry";

// The ground truth of a sequence: GT/<seq>.txt, else GT/<seq>/poses.txt.
std::string ground_truth_file(const std::string& gt_dir, const std::string& seq) {
  std::error_code ec;
  fs::path flat = fs::path(gt_dir) / (seq + ".txt"), scene = fs::path(gt_dir) / seq / "poses.txt";
  if (fs::is_regular_file(flat, ec)) return flat.string();
  if (fs::is_regular_file(scene, ec)) return scene.string();
  fail(kWho, ": sequence ", seq, " has no ground truth: neither ", flat.string(), " nor ", scene.string(), " exists");
}

struct LoadedSequence {
  std::string name, gt_file, pred_file;
  PoseList gt, pred;
};

LoadedSequence load_sequence(const OdometryEvalRun& run, const std::string& seq) {
  LoadedSequence s;
  s.name = seq;
  s.gt_file = ground_truth_file(run.gt_dir, seq);
  std::error_code ec;
  s.pred_file = (fs::path(run.pred_dir) / (seq + ".txt")).string();
  SFM_CHECK(fs::is_regular_file(s.pred_file, ec), kWho, ": sequence ", seq, " has no prediction: ", s.pred_file,
            " does not exist");
  Trajectory g = read_kitti_trajectory(s.gt_file), p = read_kitti_trajectory(s.pred_file);
  SFM_CHECK(g.poses.size() == p.poses.size(), kWho, ": sequence ", seq, ": ", s.pred_file, " has ", p.poses.size(),
            " poses but ", s.gt_file, " has ", g.poses.size(), " (one pose per frame in both)");
  if (g.indexed || p.indexed) {
    for (size_t i = 0; i < g.frames.size(); ++i)
      SFM_CHECK(g.frames[i] == p.frames[i], kWho, ": sequence ", seq, ": pose ", i + 1, " is frame ", p.frames[i],
                " in ", s.pred_file, " but frame ", g.frames[i], " in ", s.gt_file);
  }
  SFM_CHECK(g.poses.size() >= 2, kWho, ": sequence ", seq, ": ", s.gt_file, " has a single pose (need 2 or more)");
  s.gt = std::move(g.poses);
  s.pred = std::move(p.poses);
  return s;
}

std::vector<std::string> sequences_in(const std::string& pred_dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(pred_dir, ec))
    if (e.is_regular_file() && e.path().extension() == ".txt") out.push_back(e.path().stem().string());
  SFM_CHECK(!ec, kWho, ": cannot list --pred ", pred_dir, ": ", ec.message());
  std::sort(out.begin(), out.end());
  SFM_CHECK(!out.empty(), kWho, ": --pred ", pred_dir, " holds no <sequence>.txt trajectory");
  return out;
}

nlohmann::json errors_json(const OdometryErrors& e) {
  return {{"t_err_percent", e.t_err_percent}, {"r_err_deg_per_100m", e.r_err_deg_per_100m}, {"ate_m", e.ate_m},
          {"rpe_m", e.rpe_m}, {"rpe_deg", e.rpe_deg}};
}

}  // namespace

std::vector<std::string> parse_sequence_list(const std::string& s) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    SFM_CHECK(!item.empty(), "--seqs '", s, "': an empty sequence name");
    SFM_CHECK(item.find('/') == std::string::npos, "--seqs '", s, "': '", item, "' is not a sequence name");
    SFM_CHECK(seen.insert(item).second, "--seqs '", s, "': ", item, " is named twice");
    out.push_back(item);
  }
  SFM_CHECK(!out.empty(), "--seqs is empty");
  return out;
}

OdometryEvalResult evaluate_odometry(const OdometryEvalRun& run) {
  std::error_code ec;
  SFM_CHECK(fs::is_directory(run.gt_dir, ec), kWho, ": --gt ", run.gt_dir, " is not a folder");
  SFM_CHECK(fs::is_directory(run.pred_dir, ec), kWho, ": --pred ", run.pred_dir, " is not a folder");
  const std::vector<std::string> seqs = run.seqs.empty() ? sequences_in(run.pred_dir) : run.seqs;
  std::vector<LoadedSequence> loaded;
  for (const std::string& seq : seqs) loaded.push_back(load_sequence(run, seq));  // every check first

  OdometryEvalResult r;
  std::vector<SegmentError> pooled;
  double sums[5] = {0, 0, 0, 0, 0};
  for (const LoadedSequence& s : loaded) {
    OdometrySequenceResult q{s.name, s.gt_file, s.pred_file, evaluate_trajectory(s.gt, s.pred, run.metrics)};
    const OdometryErrors& e = q.errors;
    const double v[5] = {e.t_err_percent, e.r_err_deg_per_100m, e.ate_m, e.rpe_m, e.rpe_deg};
    for (int k = 0; k < 5; ++k) sums[k] += v[k];
    pooled.insert(pooled.end(), e.segments.begin(), e.segments.end());
    r.total.frames += e.frames;
    r.total.length_m += e.length_m;
    r.sequences.push_back(std::move(q));
  }
  const double n = (double)r.sequences.size();
  r.mean.t_err_percent = sums[0] / n;
  r.mean.r_err_deg_per_100m = sums[1] / n;
  r.mean.ate_m = sums[2] / n;
  r.mean.rpe_m = sums[3] / n;
  r.mean.rpe_deg = sums[4] / n;
  r.total_segments = (int64_t)pooled.size();
  r.total.t_err_percent = r.total.r_err_deg_per_100m = std::nan("");
  if (!pooled.empty()) {
    double t = 0, rr = 0;
    for (const SegmentError& e : pooled) {
      t += e.t;
      rr += e.r;
    }
    r.total.t_err_percent = 100.0 * t / (double)pooled.size();
    r.total.r_err_deg_per_100m = 100.0 * 180.0 / M_PI * rr / (double)pooled.size();
  }

  if (!run.plots_dir.empty()) {
    fs::create_directories(run.plots_dir, ec);
    SFM_CHECK(fs::is_directory(run.plots_dir, ec), kWho, ": --plots ", run.plots_dir, " cannot be created");
    for (size_t i = 0; i < loaded.size(); ++i) {
      const LoadedSequence& s = loaded[i];
      PoseList g, p;
      align_trajectories(s.gt, s.pred, run.metrics.align, g, p);
      const std::string title = s.name + " (align " + odometry_align_name(run.metrics.align) + ")";
      std::string path = (fs::path(run.plots_dir) / (s.name + "_trajectory.png")).string();
      write_png_atomic(path, trajectory_plot(g, p, title));
      r.plots.push_back(path);
      const auto by_length = errors_by_length(r.sequences[i].errors.segments);
      if (by_length.empty()) continue;  // shorter than every segment length: nothing to draw
      path = (fs::path(run.plots_dir) / (s.name + "_segment_errors.png")).string();
      write_png_atomic(path, segment_error_plot(by_length, s.name));
      r.plots.push_back(path);
    }
  }
  return r;
}

nlohmann::json odometry_eval_json(const OdometryEvalRun& run, const OdometryEvalResult& r) {
  nlohmann::json j;
  j["command"] = "eval odometry";
  j["align"] = odometry_align_name(run.metrics.align);
  j["gt"] = run.gt_dir;
  j["pred"] = run.pred_dir;
  j["segment_lengths_m"] = run.metrics.lengths;
  j["step_frames"] = run.metrics.step;
  nlohmann::json seqs = nlohmann::json::object();
  for (const OdometrySequenceResult& s : r.sequences) {
    nlohmann::json e = errors_json(s.errors);
    e["frames"] = s.errors.frames;
    e["length_m"] = s.errors.length_m;
    e["segments"] = s.errors.segments.size();
    e["scale"] = s.errors.alignment.scale;
    e["gt_file"] = s.gt_file;
    e["pred_file"] = s.pred_file;
    seqs[s.name] = e;
  }
  j["sequences"] = seqs;
  j["mean"] = errors_json(r.mean);
  j["total"] = {{"t_err_percent", r.total.t_err_percent},
                {"r_err_deg_per_100m", r.total.r_err_deg_per_100m},
                {"frames", r.total.frames},
                {"length_m", r.total.length_m},
                {"segments", r.total_segments}};
  return j;
}

std::string odometry_table(const OdometryEvalResult& r) {
  std::string out;
  char buf[256];
  std::snprintf(buf, sizeof(buf), "%-10s %9s %14s %10s %9s %9s %7s %10s %8s\n", "sequence", "t_err(%)",
                "r_err(deg/100m)", "ATE(m)", "RPE(m)", "RPE(deg)", "frames", "length(m)", "segments");
  out += buf;
  auto row = [&](const std::string& name, const OdometryErrors& e, const std::string& frames,
                 const std::string& length, const std::string& segs) {
    std::snprintf(buf, sizeof(buf), "%-10s %9.4f %14.4f %10.4f %9.4f %9.4f %7s %10s %8s\n", name.c_str(),
                  e.t_err_percent, e.r_err_deg_per_100m, e.ate_m, e.rpe_m, e.rpe_deg, frames.c_str(), length.c_str(),
                  segs.c_str());
    out += buf;
  };
  for (const OdometrySequenceResult& s : r.sequences) {
    char len[32];
    std::snprintf(len, sizeof(len), "%.1f", s.errors.length_m);
    row(s.name, s.errors, std::to_string(s.errors.frames), len, std::to_string(s.errors.segments.size()));
  }
  if (r.sequences.size() > 1) row("mean", r.mean, "", "", "");
  return out;
}

}  // namespace sfm::eval
