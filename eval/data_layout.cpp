#include "eval/data_layout.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "boundary/error.h"
#include "eval/kitti_trajectory.h"  // rotation_problem: the one rigidity check

namespace sfm {
namespace fs = std::filesystem;

// ---------------------------------------------------------------- text formats
std::vector<std::string> tokens(const std::string& s) {
  std::istringstream is(s);
  std::vector<std::string> t;
  std::string w;
  while (is >> w) t.push_back(w);
  return t;
}

namespace {
bool to_double(const std::string& tok, double& v) {
  errno = 0;
  char* end = nullptr;
  v = std::strtod(tok.c_str(), &end);
  return !tok.empty() && end == tok.c_str() + tok.size() && errno != ERANGE;
}
}  // namespace

std::vector<double> parse_numbers_text(const std::string& text, const std::string& where) {
  std::string s = text;
  for (char& c : s)
    if (c == ',') c = ' ';
  std::vector<double> out;
  for (const auto& tok : tokens(s)) {
    double v = 0;
    SFM_CHECK(to_double(tok, v), where, ": '", tok, "' is not a number");
    out.push_back(v);
  }
  return out;
}

std::string intrinsics_problem(const std::vector<double>& k) {
  if (k.size() != 9) return "expected 9 numbers (3x3 intrinsics), found " + std::to_string(k.size());
  for (double v : k)
    if (!std::isfinite(v)) return "the intrinsics hold a non-finite value (nan or inf)";
  if (!(k[0] > 0) || !(k[4] > 0))
    return "the focal lengths fx = " + std::to_string(k[0]) + ", fy = " + std::to_string(k[4]) +
           " must be positive";
  if (k[6] != 0 || k[7] != 0 || k[8] != 1) return "the last row of the intrinsics must be 0 0 1";
  return "";
}

std::vector<Pose34> parse_poses_text(const std::string& text, const std::string& where) {
  std::istringstream is(text);
  std::string line;
  std::vector<Pose34> out;
  int ln = 0;
  while (std::getline(is, line)) {
    ++ln;
    auto t = tokens(line);
    if (t.empty()) continue;
    SFM_CHECK(t.size() == 12, where, ": line ", ln, " has ", t.size(), " numbers, expected 12");
    Pose34 T;
    for (int i = 0; i < 12; ++i) {
      double v = 0;
      SFM_CHECK(to_double(t[i], v), where, ": line ", ln, ": '", t[i], "' is not a number");
      SFM_CHECK(std::isfinite(v), where, ": line ", ln, ": '", t[i], "' is not a finite number");
      T(i / 4, i % 4) = v;
    }
    std::string bad = eval::rotation_problem(T.leftCols<3>());
    SFM_CHECK(bad.empty(), where, ": line ", ln, ": ", bad);
    out.push_back(T);
  }
  return out;
}

std::vector<std::string> split_list_lines(const std::string& text) {
  std::istringstream is(text);
  std::vector<std::string> out;
  std::string line;
  while (std::getline(is, line)) {
    while (!line.empty() && std::isspace((unsigned char)line.back())) line.pop_back();
    size_t b = 0;
    while (b < line.size() && std::isspace((unsigned char)line[b])) ++b;
    out.push_back(line.substr(b));
  }
  return out;
}

// ---------------------------------------------------------------- files of the layout
std::string read_text_file(const std::string& path, const std::string& who, const std::string& what) {
  std::ifstream f(path, std::ios::binary);
  SFM_CHECK(f.good(), who, ": cannot open ", what, path);
  std::stringstream ss;
  ss << f.rdbuf();
  std::string text = ss.str();
  // A UTF-8 byte-order mark (editors on Windows write one) would glue itself to the first scene
  // name or number and hide the real error: dropped.
  if (text.compare(0, 3, "\xEF\xBB\xBF") == 0) text.erase(0, 3);
  return text;
}

std::string split_list_path(const std::string& root, const std::string& split) {
  return (fs::path(root) / (split + ".txt")).string();
}

std::string split_list_path_or_file(const std::string& root, const std::string& split) {
  std::error_code ec;
  SFM_CHECK(fs::is_directory(root, ec), "--data: folder ", root, " does not exist");
  return fs::is_regular_file(split, ec) ? split : split_list_path(root, split);
}

std::vector<SceneListEntry> read_scene_list(const std::string& root, const std::string& list_path,
                                            const std::string& who, const BadItem& bad) {
  auto report = [&](const std::string& msg) {
    if (!bad) throw Error(msg);
    bad(msg);
  };
  std::vector<std::string> lines = split_list_lines(read_text_file(list_path, who, "split file "));
  std::vector<SceneListEntry> out;
  for (size_t ln = 0; ln < lines.size(); ++ln) {
    auto t = tokens(lines[ln]);
    if (t.empty()) continue;
    std::string where = who + ": " + list_path + " line " + std::to_string(ln + 1);
    if (t.size() != 1) {
      report(where + ": '" + lines[ln] + "' is not a scene folder name (formatted layout: one folder per line)");
      continue;
    }
    SceneListEntry e{t[0], (fs::path(root) / t[0]).string(), (int)ln + 1};
    std::error_code ec;
    if (!fs::is_directory(e.dir, ec)) {
      report(where + " names scene folder '" + e.name + "', but " + e.dir + " does not exist");
      continue;
    }
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<std::string> list_scene_frames(const std::string& dir) {
  auto is_frame = [](const fs::path& p) {
    std::string e = p.extension().string();
    std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return (char)std::tolower(c); });
    return e == ".jpg" || e == ".jpeg" || e == ".png";
  };
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_regular_file() && is_frame(e.path())) files.push_back(e.path());
  SFM_CHECK(!ec, "cannot list scene folder ", dir, ": ", ec.message());
  auto digits = [](const std::string& t) {
    return !t.empty() && std::all_of(t.begin(), t.end(), [](unsigned char c) { return std::isdigit(c); });
  };
  std::sort(files.begin(), files.end(), [&](const fs::path& a, const fs::path& b) {
    std::string sa = a.stem().string(), sb = b.stem().string();
    if (digits(sa) && digits(sb)) {
      size_t za = sa.find_first_not_of('0'), zb = sb.find_first_not_of('0');
      std::string ta = za == std::string::npos ? "" : sa.substr(za), tb = zb == std::string::npos ? "" : sb.substr(zb);
      if (ta.size() != tb.size()) return ta.size() < tb.size();
      if (ta != tb) return ta < tb;
    }
    return a.filename().string() < b.filename().string();
  });
  std::vector<std::string> out;
  out.reserve(files.size());
  for (const auto& p : files) out.push_back(p.string());
  return out;
}

std::string frame_name(const std::string& frame_path) { return fs::path(frame_path).stem().string(); }

std::string depth_map_path(const std::string& frame_path) {
  fs::path d = fs::path(frame_path).replace_extension(".npy");
  std::error_code ec;
  return fs::is_regular_file(d, ec) ? d.string() : std::string();
}

std::string scene_cam_file(const std::string& scene_dir) { return (fs::path(scene_dir) / "cam.txt").string(); }
std::string scene_poses_file(const std::string& scene_dir) { return (fs::path(scene_dir) / "poses.txt").string(); }
std::string scene_times_file(const std::string& scene_dir) { return (fs::path(scene_dir) / "times.txt").string(); }

std::vector<double> read_numbers(const std::string& path, const std::string& who) {
  return parse_numbers_text(read_text_file(path, who), who + ": " + path);
}

std::vector<double> read_intrinsics_file(const std::string& path, const std::string& who) {
  std::vector<double> k = read_numbers(path, who);
  std::string why = intrinsics_problem(k);
  SFM_CHECK(why.empty(), who, ": ", path, ": ", why);
  return k;
}

std::vector<Pose34> read_poses_file(const std::string& path, const std::string& who) {
  return parse_poses_text(read_text_file(path, who), who + ": " + path);
}

std::vector<double> read_times_file(const std::string& path, size_t frames, const std::string& who) {
  std::vector<double> t = read_numbers(path, who);
  SFM_CHECK(t.size() == frames, who, ": ", path, " holds ", t.size(), " timestamps for ", frames, " frames");
  return t;
}

}  // namespace sfm
