#include "eval/odometry_plots.h"

#include "eval/plot.h"

namespace sfm::eval {

cv::Mat trajectory_plot(const PoseList& gt, const PoseList& pred, const std::string& title) {
  Series g{"ground truth", {}, {}}, p{"prediction", {}, {}};
  for (const Pose& P : gt) {
    g.x.push_back(P(0, 3));
    g.y.push_back(P(2, 3));
  }
  for (const Pose& P : pred) {
    p.x.push_back(P(0, 3));
    p.y.push_back(P(2, 3));
  }
  PlotOptions o;
  o.width = 700;
  o.height = 700;
  o.ylabel = "z (m)";
  o.equal_aspect = true;
  return plot_image({g, p}, title, "x (m)", o);
}

cv::Mat segment_error_plot(const std::vector<LengthErrors>& by_length, const std::string& title) {
  Series t{"t_err", {}, {}}, r{"r_err", {}, {}};
  for (const LengthErrors& l : by_length) {
    t.x.push_back(l.length);
    t.y.push_back(l.t_err_percent);
    r.x.push_back(l.length);
    r.y.push_back(l.r_err_deg_per_100m);
  }
  PlotOptions o;
  o.width = 600;
  o.height = 420;
  o.legend = false;
  o.ylabel = "translation error (%)";
  cv::Mat left = plot_image({t}, title + ": translation", "segment length (m)", o);
  o.ylabel = "rotation error (deg/100 m)";
  cv::Mat right = plot_image({r}, title + ": rotation", "segment length (m)", o);
  cv::Mat both;
  cv::hconcat(left, right, both);
  return both;
}

}  // namespace sfm::eval
