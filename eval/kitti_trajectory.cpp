#include "eval/kitti_trajectory.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "boundary/error.h"
#include "engine/file_io.h"
#include "eval/data_layout.h"  // tokens, read_text_file

namespace sfm::eval {

std::string rotation_problem(const Eigen::Matrix3d& R, double tol) {
  const double off = (R.transpose() * R - Eigen::Matrix3d::Identity()).cwiseAbs().maxCoeff();
  std::ostringstream os;
  if (!(off <= tol)) {
    os << "the rotation is not orthonormal (R^T R differs from the identity by " << off << ", tolerance " << tol
       << ")";
  } else if (R.determinant() <= 0) {
    os << "the rotation is a reflection (det R = " << R.determinant() << ")";
  }
  return os.str();
}

Trajectory parse_kitti_trajectory(const std::string& text, const std::string& where) {
  std::istringstream is(text);
  std::string line;
  Trajectory out;
  int ln = 0, width = 0;
  while (std::getline(is, line)) {
    ++ln;
    const std::vector<std::string> t = tokens(line);
    if (t.empty()) continue;
    SFM_CHECK(t.size() == 12 || t.size() == 13, where, ": line ", ln, " has ", t.size(),
              " numbers, expected 12 (a 3x4 pose) or 13 (a frame index and a 3x4 pose)");
    if (width == 0) width = (int)t.size();
    SFM_CHECK((int)t.size() == width, where, ": line ", ln, " has ", t.size(), " numbers but the lines before have ",
              width, " (one form per file)");
    double v[13];
    for (size_t i = 0; i < t.size(); ++i) {
      errno = 0;
      char* end = nullptr;
      v[i] = std::strtod(t[i].c_str(), &end);
      SFM_CHECK(end == t[i].c_str() + t[i].size() && errno != ERANGE, where, ": line ", ln, ": '", t[i],
                "' is not a number");
      SFM_CHECK(std::isfinite(v[i]), where, ": line ", ln, ": '", t[i], "' is not a finite number");
    }
    const int o = width - 12;
    if (o == 1) {
      SFM_CHECK(v[0] >= 0 && v[0] == std::floor(v[0]) && v[0] < 9e15, where, ": line ", ln, ": the frame index '",
                t[0], "' is not a whole number >= 0");
      SFM_CHECK(out.frames.empty() || (int64_t)v[0] > out.frames.back(), where, ": line ", ln, ": frame index ",
                (int64_t)v[0], " does not follow ", out.frames.empty() ? 0 : out.frames.back(),
                " (indices must increase)");
      out.frames.push_back((int64_t)v[0]);
    } else {
      out.frames.push_back((int64_t)out.poses.size());
    }
    Pose P = pose_from_3x4(v + o);
    std::string bad = rotation_problem(P.topLeftCorner<3, 3>());
    SFM_CHECK(bad.empty(), where, ": line ", ln, ": ", bad);
    out.poses.push_back(P);
  }
  SFM_CHECK(!out.poses.empty(), where, ": holds no poses");
  out.indexed = width == 13;
  return out;
}

Trajectory read_kitti_trajectory(const std::string& path) {
  return parse_kitti_trajectory(read_text_file(path, "trajectory"), path);
}

void write_kitti_trajectory(const std::string& path, const PoseList& poses) {
  std::string out;
  char buf[32];
  for (const Pose& P : poses) {
    for (int i = 0; i < 12; ++i) {
      std::snprintf(buf, sizeof(buf), i == 11 ? "%.10e\n" : "%.10e ", P(i / 4, i % 4));
      out += buf;
    }
  }
  write_file_atomic(path, out);
}

}  // namespace sfm::eval
