#include "eval/report.h"

#include <cstdio>

#include "engine/file_io.h"

namespace sfm::eval {

std::string depth_table(const DepthMetrics& m) {
  std::string out;
  char buf[64];
  for (const auto& n : depth_metric_names()) {
    std::snprintf(buf, sizeof(buf), "%10s", n.c_str());
    out += buf;
  }
  out += "\n";
  for (double v : depth_metric_values(m)) {
    std::snprintf(buf, sizeof(buf), "%10.4f", v);
    out += buf;
  }
  return out + "\n";
}

std::string pose_table(const PoseErrorStats& s) {
  char buf[256];
  std::snprintf(buf, sizeof(buf), "%10s %12s %12s %16s %16s\n%10lld %12.4f %12.4f %16.4f %16.4f\n", "snippets",
                "ATE mean", "ATE std", "rot mean (deg)", "rot std (deg)", (long long)s.snippets, s.ate_mean,
                s.ate_std, s.rot_mean, s.rot_std);
  return buf;
}

nlohmann::json depth_metrics_json(const DepthMetrics& m) {
  nlohmann::json j;
  auto names = depth_metric_names();
  auto vals = depth_metric_values(m);
  for (size_t i = 0; i < names.size(); ++i) j[names[i]] = vals[i];
  return j;
}

nlohmann::json pose_stats_json(const PoseErrorStats& s) {
  return {{"snippets", s.snippets}, {"ate_mean", s.ate_mean}, {"ate_std", s.ate_std},
          {"rot_deg_mean", s.rot_mean}, {"rot_deg_std", s.rot_std}};
}

void write_json_atomic(const std::string& path, const nlohmann::json& j) { write_file_atomic(path, j.dump(2) + "\n"); }

}  // namespace sfm::eval
