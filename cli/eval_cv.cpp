// `sfm eval depth` and `sfm eval pose`: the KITTI Eigen-split depth protocol, depth against
// .npy ground truth, and snippet ATE against poses.txt (see docs/evaluation.md).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>

#include "cli/args.h"
#include "cli/command.h"
#include "engine/error.h"
#include "engine/npy.h"
#include "eval/depth_metrics.h"
#include "eval/infer.h"
#include "eval/kitti_depth_gt.h"
#include "eval/pose_metrics.h"
#include "eval/report.h"

namespace fs = std::filesystem;
using namespace sfm;
using namespace sfm::eval;

namespace {

// An output file named on the command line must be writable before the work starts: its folder
// exists and is writable, and it is not a folder itself.
void check_output_file(const sfm::cli::Args& a, const std::string& opt, const char* who) {
  if (!a.has(opt)) return;
  fs::path p(a.get(opt));
  std::error_code ec;
  SFM_CHECK(!fs::is_directory(p, ec), who, ": --", opt, " ", p.string(), " is a folder (give a file name)");
  fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
  SFM_CHECK(fs::is_directory(dir, ec), who, ": --", opt, " ", p.string(), ": folder ", dir.string(), " does not exist");
  SFM_CHECK(access(dir.c_str(), W_OK) == 0, who, ": --", opt, " ", p.string(), ": folder ", dir.string(),
            " is not writable");
  SFM_CHECK(!fs::exists(p, ec) || access(p.c_str(), W_OK) == 0, who, ": --", opt, " ", p.string(), " is not writable");
}

// Scene folders listed in DIR/<split>.txt (or in the file `split` names, when it is one).
std::vector<std::string> read_scene_list(const std::string& root, const std::string& split, std::string* list_path) {
  std::error_code ec;
  SFM_CHECK(fs::is_directory(root, ec), "--data: folder ", root, " does not exist");
  fs::path list = fs::is_regular_file(split, ec) ? fs::path(split) : fs::path(root) / (split + ".txt");
  std::ifstream f(list);
  SFM_CHECK(f.good(), "cannot open the scene list ", list.string(), " (--split ", split, ")");
  *list_path = list.string();
  std::vector<std::string> scenes;
  std::string line;
  while (std::getline(f, line)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
    size_t b = line.find_first_not_of(" \t");
    if (b == std::string::npos) continue;
    std::string name = line.substr(b);
    fs::path dir = fs::path(root) / name;
    SFM_CHECK(fs::is_directory(dir, ec), "scene folder ", dir.string(), " (listed in ", list.string(), ") is missing");
    scenes.push_back(dir.string());
  }
  SFM_CHECK(!scenes.empty(), "scene list ", list.string(), " is empty");
  return scenes;
}

// Frames of a formatted scene: NNNNNNNNNN.jpg / .png, sorted by name.
std::vector<std::string> scene_frames(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (!e.is_regular_file()) continue;
    std::string ext = e.path().extension().string();
    if (ext == ".jpg" || ext == ".png" || ext == ".jpeg") out.push_back(e.path().string());
  }
  SFM_CHECK(!ec, "cannot list scene folder ", dir, ": ", ec.message());
  std::sort(out.begin(), out.end());
  return out;
}

std::string stem_of(const std::string& p) { return fs::path(p).stem().string(); }

ClampOrder parse_scoring(const std::string& s) {
  if (s == "standard") return ClampOrder::AfterScaling;
  if (s == "pytorch-port") return ClampOrder::PytorchPort;
  fail("--scoring: expected standard or pytorch-port, got '", s, "'");
}
PredResize parse_resize(const std::string& s) {
  if (s == "depth") return PredResize::Depth;
  if (s == "disparity") return PredResize::Disparity;
  fail("--resize: expected depth or disparity, got '", s, "'");
}

// Predictions from --pred: [N,h,w] (or [N,1,h,w]) disparities in split order.
struct SavedPredictions {
  std::string path;
  NpyArray arr;
  int64_t n = 0, h = 0, w = 0;
  const float* at(int64_t i) const { return arr.data.data() + i * h * w; }
};
SavedPredictions load_predictions(const std::string& path, size_t expected) {
  SavedPredictions p;
  p.path = path;
  p.arr = load_npy(path);
  const auto& s = p.arr.shape;
  SFM_CHECK(s.size() == 3 || (s.size() == 4 && s[1] == 1), "--pred ", path,
            ": expected disparities of shape [N,H,W] or [N,1,H,W]");
  p.n = s[0];
  p.h = s[s.size() - 2];
  p.w = s[s.size() - 1];
  SFM_CHECK((size_t)p.n == expected, "--pred ", path, " holds ", p.n, " predictions but the split lists ", expected,
            " frames");
  return p;
}

// One image to score: where its ground truth comes from and how to name it in errors.
struct DepthItem {
  std::string image;  // the network's input ("" when only --pred is used and the file is absent)
  std::string name;   // for messages and per-image output
  // KITTI
  KittiSplitEntry kitti;
  std::string velodyne, calib_dir;
  // .npy ground truth
  std::string gt_npy;
};

struct CalibCache {
  std::map<std::string, std::pair<CalibFile, CalibFile>> files;  // calib dir -> (cam_to_cam, velo_to_cam)
  const std::pair<CalibFile, CalibFile>& get(const std::string& dir) {
    auto it = files.find(dir);
    if (it != files.end()) return it->second;
    CalibFile c2c = read_calib_file((fs::path(dir) / "calib_cam_to_cam.txt").string());
    CalibFile v2c = read_calib_file((fs::path(dir) / "calib_velo_to_cam.txt").string());
    return files.emplace(dir, std::make_pair(std::move(c2c), std::move(v2c))).first->second;
  }
};

int run_eval_depth(const std::vector<std::string>& argv) {
  cli::Args a("eval depth",
              "Scores DispNet depth. KITTI (--kitti-raw): the Eigen split with velodyne ground truth, Garg crop,\n"
              "per-image median scaling, depth clamped to (min, max). Formatted data (--data): .npy ground truth\n"
              "of every frame that has one, in the scene folders of DIR/<split>.txt. See docs/evaluation.md.");
  a.option("disp-weights", "DispNet weights (.safetensors, or a checkpoint folder)")
      .option("pred", "score saved disparities instead: .npy [N,H,W] in split order")
      .option("kitti-raw", "KITTI raw root (DATE/DRIVE/image_02/data, velodyne_points, DATE/calib_*.txt)")
      .option("data", "formatted data root with .npy depth (synthetic, or prepared --with-depth)")
      .option("split", "KITTI: split file [data/eigen_test_files.txt]; --data: list name or file [val]")
      .option("gt", "KITTI ground-truth depth: velodyne-x (original, Monodepth2) or velodyne-z (PyTorch port)",
              "velodyne-x")
      .option("min-depth", "smallest valid depth (m)", "1e-3")
      .option("max-depth", "largest valid depth (m)", "80")
      .flag("garg-crop", "apply the Garg crop with --data (always on for KITTI)")
      .flag("no-median-scaling", "score the raw scale (no per-image median ratio)")
      .option("scoring", "standard (scale, clamp, score) or pytorch-port (scores the unclamped prediction)",
              "standard")
      .option("resize", "depth (invert, then resize: original) or disparity (resize, then invert: Monodepth2)",
              "depth")
      .option("height", "network input height", "128")
      .option("width", "network input width", "416")
      .option("batch-size", "images per network call", "4")
      .option("device", "cpu or cuda", "cpu")
      .option("save-pred", "also write the network's disparities [N,H,W] to this .npy (for --pred)")
      .option("out", "write the results as JSON to this file");
  if (!a.parse(argv)) return 0;
  check_output_file(a, "out", "sfm eval depth");
  check_output_file(a, "save-pred", "sfm eval depth");
  SFM_CHECK(a.has("kitti-raw") != a.has("data"), "sfm eval depth: give exactly one of --kitti-raw and --data");
  SFM_CHECK(a.has("disp-weights") != a.has("pred"), "sfm eval depth: give exactly one of --disp-weights and --pred");
  const bool kitti = a.has("kitti-raw");

  DepthEvalOptions opt;
  opt.min_depth = a.get_double("min-depth");
  opt.max_depth = a.get_double("max-depth");
  SFM_CHECK(opt.min_depth >= 0 && opt.max_depth > opt.min_depth, "sfm eval depth: bad range --min-depth ",
            opt.min_depth, " --max-depth ", opt.max_depth);
  opt.garg_crop = kitti || a.get_flag("garg-crop");
  opt.median_scaling = !a.get_flag("no-median-scaling");
  opt.clamp = parse_scoring(a.get("scoring"));
  PredResize resize = parse_resize(a.get("resize"));
  VeloDepth velo = parse_velo_depth(a.get("gt"));
  const int H = a.get_int("height"), W = a.get_int("width"), B = a.get_int("batch-size");
  SFM_CHECK(H > 0 && W > 0 && B > 0, "sfm eval depth: --height, --width and --batch-size must be positive");

  // ---- the items, in split order
  std::vector<DepthItem> items;
  std::string split_desc;
  std::error_code ec;
  if (kitti) {
    std::string root = a.get("kitti-raw");
    SFM_CHECK(fs::is_directory(root, ec), "--kitti-raw: folder ", root, " does not exist");
    split_desc = a.has("split") ? a.get("split") : default_eigen_split_path();
    for (const auto& e : read_kitti_split(split_desc)) {
      KittiFramePaths p = kitti_frame_paths(root, e);
      DepthItem it;
      it.kitti = e;
      it.image = p.image;
      it.velodyne = p.velodyne;
      it.calib_dir = p.calib_dir;
      it.name = e.drive_dir + " " + e.frame + " " + e.side;
      items.push_back(std::move(it));
    }
  } else {
    std::string root = a.get("data");
    std::vector<std::string> scenes = read_scene_list(root, a.has("split") ? a.get("split") : "val", &split_desc);
    for (const auto& s : scenes)
      for (const auto& f : scene_frames(s)) {
        fs::path npy = fs::path(f).replace_extension(".npy");
        if (!fs::is_regular_file(npy, ec)) continue;
        DepthItem it;
        it.image = f;
        it.gt_npy = npy.string();
        it.name = f;
        items.push_back(std::move(it));
      }
    SFM_CHECK(!items.empty(), "sfm eval depth: no frame of the scenes in ", split_desc,
              " has .npy ground truth (NNNNNNNNNN.npy beside the image)");
  }

  // ---- fail fast on missing inputs, before any network work
  const bool use_net = a.has("disp-weights");
  CalibCache calib;
  for (const auto& it : items) {
    if (use_net) SFM_CHECK(fs::is_regular_file(it.image, ec), "image ", it.image, " (", it.name, ") is missing");
    if (kitti) {
      SFM_CHECK(fs::is_regular_file(it.velodyne, ec), "velodyne file ", it.velodyne, " (", it.name, ") is missing");
      calib.get(it.calib_dir);  // reads and checks both calibration files of the date
    }
  }
  SavedPredictions saved;
  if (!use_net) saved = load_predictions(a.get("pred"), items.size());

  std::unique_ptr<DispNet> net;
  if (use_net) net = load_dispnet(a.get("disp-weights"), parse_device(a.get("device")));
  std::vector<float> save_buf;
  const bool save_pred = use_net && a.has("save-pred");

  DepthMetricsAccumulator acc;
  ProgressLine progress("eval depth", (int64_t)items.size());
  auto t0 = std::chrono::steady_clock::now();
  for (size_t b0 = 0; b0 < items.size(); b0 += (size_t)B) {
    size_t b1 = std::min(items.size(), b0 + (size_t)B);
    std::vector<cv::Mat> imgs;
    Tensor disp;
    if (use_net) {
      for (size_t i = b0; i < b1; ++i) imgs.push_back(load_image_rgb(items[i].image));
      disp = predict_disparity(*net, imgs, H, W);
      if (save_pred) {
        std::vector<float> v = disp.to_vector();
        save_buf.insert(save_buf.end(), v.begin(), v.end());
      }
    }
    for (size_t i = b0; i < b1; ++i) {
      const DepthItem& it = items[i];
      // Ground truth at its own size.
      int gh = 0, gw = 0;
      std::vector<float> gt;
      if (kitti) {
        const auto& [c2c, v2c] = calib.get(it.calib_dir);
        int cam = it.kitti.cam();
        if (use_net) {
          gh = imgs[i - b0].rows;
          gw = imgs[i - b0].cols;
        } else if (fs::is_regular_file(it.image, ec)) {
          cv::Mat im = load_image_rgb(it.image);
          gh = im.rows;
          gw = im.cols;
        } else {
          auto s = rectified_image_size(c2c, cam);
          gh = s[0];
          gw = s[1];
        }
        gt = project_velodyne(load_velodyne_points(it.velodyne), velo_to_image_matrix(c2c, v2c, cam), gh, gw, velo);
      } else {
        NpyArray g = load_npy(it.gt_npy);
        const auto& s = g.shape;
        SFM_CHECK(s.size() == 2 || (s.size() == 3 && s[0] == 1), "ground truth ", it.gt_npy, ": expected [H,W] or [1,H,W]");
        gh = (int)s[s.size() - 2];
        gw = (int)s[s.size() - 1];
        gt = std::move(g.data);
      }
      // Prediction -> depth at the ground-truth size.
      const float* d;
      int ph, pw;
      if (use_net) {
        ph = (int)disp.dim(2);
        pw = (int)disp.dim(3);
        d = disp.data<float>() + (i - b0) * ph * pw;
      } else {
        ph = (int)saved.h;
        pw = (int)saved.w;
        d = saved.at((int64_t)i);
      }
      std::string what = use_net ? it.name : saved.path + " [" + std::to_string(i) + "] (" + it.name + ")";
      std::vector<float> pred = disparity_to_depth(d, ph, pw, gh, gw, resize, what);
      acc.add(gt.data(), pred.data(), gh, gw, opt, what);
    }
    progress.advance((int64_t)(b1 - b0));
  }
  progress.finish();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  if (save_pred) {
    int64_t n = (int64_t)items.size();
    save_npy(a.get("save-pred"), save_buf.data(), {n, (int64_t)H, (int64_t)W});
  }
  DepthMetrics m = acc.mean();
  std::printf("%s\n", depth_table(m).c_str());
  std::printf("%lld images scored, %lld without valid ground truth; mean median-scale %.4f; %.1f s\n",
              (long long)acc.images, (long long)acc.skipped, m.scale, secs);
  SFM_CHECK(acc.images > 0, "sfm eval depth: no image had valid ground truth in (", opt.min_depth, ", ",
            opt.max_depth, ")");
  if (a.has("out")) {
    nlohmann::json j;
    j["command"] = "eval depth";
    j["protocol"] = kitti ? "kitti-eigen" : "npy";
    j["split"] = split_desc;
    if (kitti) j["gt"] = velo_depth_name(velo);
    j["source"] = use_net ? a.get("disp-weights") : a.get("pred");
    j["min_depth"] = opt.min_depth;
    j["max_depth"] = opt.max_depth;
    j["garg_crop"] = opt.garg_crop;
    j["median_scaling"] = opt.median_scaling;
    j["scoring"] = a.get("scoring");
    j["resize"] = a.get("resize");
    j["height"] = H;
    j["width"] = W;
    j["images"] = acc.images;
    j["skipped"] = acc.skipped;
    j["mean_scale"] = m.scale;
    j["metrics"] = depth_metrics_json(m);
    write_json_atomic(a.get("out"), j);
  }
  return 0;
}

// ------------------------------------------------------------------------------ pose
std::vector<Pose, Eigen::aligned_allocator<Pose>> read_poses_txt(const std::string& path) {
  std::ifstream f(path);
  SFM_CHECK(f.good(), "cannot open ", path);
  PoseList out;
  std::string line;
  int ln = 0;
  while (std::getline(f, line)) {
    ++ln;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    std::istringstream is(line);
    double m[12];
    int n = 0;
    while (n < 12 && is >> m[n]) ++n;
    std::string extra;
    SFM_CHECK(n == 12 && !(is >> extra), path, " line ", ln, ": expected 12 numbers (a 3x4 camera-to-world matrix)");
    out.push_back(pose_from_3x4(m));
  }
  return out;
}

std::vector<double> read_times(const std::string& path, size_t n) {
  std::ifstream f(path);
  std::vector<double> t;
  double x;
  while (f >> x) t.push_back(x);
  SFM_CHECK(t.size() == n, path, " holds ", t.size(), " timestamps for ", n, " frames");
  return t;
}

RotationMode parse_rotation(const std::string& s) {
  if (s == "euler") return RotationMode::Euler;
  if (s == "quat") return RotationMode::Quat;
  fail("--rotation: expected euler or quat, got '", s, "'");
}

int run_eval_pose(const std::vector<std::string>& argv) {
  cli::Args a("eval pose",
              "Scores PoseExpNet on every snippet of --seq-length consecutive frames of the scenes in\n"
              "DIR/<split>.txt that have poses.txt: ATE after a per-snippet least-squares scale (SfMLearner's\n"
              "published form, sqrt(sum of squared errors)/N) and the mean rotation error in degrees.");
  a.option("pose-weights", "PoseExpNet weights (.safetensors, or a checkpoint folder)", "", true)
      .option("data", "formatted data root (scene folders with frames and poses.txt)", "", true)
      .option("split", "scene list name (DIR/<split>.txt) or file", "val")
      .option("seq-length", "frames per snippet (default: what the checkpoint was trained for)")
      .option("rotation", "pose parametrisation the network was trained with: euler or quat", "euler")
      .option("height", "network input height", "128")
      .option("width", "network input width", "416")
      .option("batch-size", "snippets per network call", "4")
      .option("device", "cpu or cuda", "cpu")
      .option("tum-dir", "write every snippet as TUM trajectories: DIR/gt/*.txt and DIR/pred/*.txt")
      .option("out", "write the results as JSON to this file");
  if (!a.parse(argv)) return 0;
  check_output_file(a, "out", "sfm eval pose");
  const int H = a.get_int("height"), W = a.get_int("width"), B = a.get_int("batch-size");
  SFM_CHECK(H > 0 && W > 0 && B > 0, "sfm eval pose: --height, --width and --batch-size must be positive");
  RotationMode rot = parse_rotation(a.get("rotation"));
  std::string list_path;
  std::vector<std::string> scenes = read_scene_list(a.get("data"), a.get("split"), &list_path);

  std::unique_ptr<PoseExpNet> net = load_posenet(a.get("pose-weights"), parse_device(a.get("device")));
  const int S = net->config().num_sources, N = S + 1, target = N / 2;
  if (a.has("seq-length"))
    SFM_CHECK(a.get_int("seq-length") == N, "sfm eval pose: --seq-length ", a.get_int("seq-length"), " but ",
              a.get("pose-weights"), " was trained for ", N, " frames (", S, " sources)");
  SFM_CHECK(N % 2 == 1, "sfm eval pose: the checkpoint takes ", N, " frames; snippets need an odd length (3, 5)");

  // Check every scene before any network work.
  struct Scene {
    std::string dir, name;
    std::vector<std::string> frames;
    PoseList poses;
    std::vector<double> times;
  };
  std::vector<Scene> todo;
  int64_t total = 0;
  std::error_code ec;
  for (const auto& dir : scenes) {
    Scene s;
    s.dir = dir;
    s.name = fs::relative(dir, a.get("data"), ec).string();
    std::replace(s.name.begin(), s.name.end(), '/', '_');
    s.frames = scene_frames(dir);
    std::string pp = (fs::path(dir) / "poses.txt").string();
    SFM_CHECK(fs::is_regular_file(pp, ec), "scene ", dir, " has no poses.txt (needed for sfm eval pose)");
    s.poses = read_poses_txt(pp);
    SFM_CHECK(s.poses.size() == s.frames.size(), pp, " has ", s.poses.size(), " poses for ", s.frames.size(),
              " frames in ", dir);
    std::string tp = (fs::path(dir) / "times.txt").string();
    if (fs::is_regular_file(tp, ec)) {
      s.times = read_times(tp, s.frames.size());
    } else {
      for (size_t i = 0; i < s.frames.size(); ++i) s.times.push_back((double)i);  // the frame index
    }
    if ((int)s.frames.size() >= N) total += (int64_t)s.frames.size() - N + 1;
    todo.push_back(std::move(s));
  }
  SFM_CHECK(total > 0, "sfm eval pose: no scene of ", list_path, " has ", N, " frames or more");
  const bool tum = a.has("tum-dir");
  if (tum) {
    fs::create_directories(fs::path(a.get("tum-dir")) / "gt");
    fs::create_directories(fs::path(a.get("tum-dir")) / "pred");
  }

  PoseErrorAccumulator acc;
  ProgressLine progress("eval pose", total);
  auto t0 = std::chrono::steady_clock::now();
  for (const Scene& s : todo) {
    int snippets = (int)s.frames.size() - N + 1;
    std::map<int, cv::Mat> cache;  // frame index -> image at the network size
    auto frame = [&](int i) -> const cv::Mat& {
      auto it = cache.find(i);
      if (it == cache.end()) it = cache.emplace(i, resize_for_network(load_image_rgb(s.frames[i]), H, W)).first;
      return it->second;
    };
    for (int k0 = 0; k0 < snippets; k0 += B) {
      int k1 = std::min(snippets, k0 + B);
      while (!cache.empty() && cache.begin()->first < k0) cache.erase(cache.begin());
      std::vector<cv::Mat> tgt;
      std::vector<std::vector<cv::Mat>> src(S);
      for (int k = k0; k < k1; ++k) {
        tgt.push_back(frame(k + target));
        int j = 0;
        for (int f = 0; f < N; ++f)
          if (f != target) src[j++].push_back(frame(k + f));
      }
      Device dev = net->device();
      Tensor t = network_input(tgt, H, W, dev);
      std::vector<Tensor> srcs;
      for (int j = 0; j < S; ++j) srcs.push_back(network_input(src[j], H, W, dev));
      std::vector<float> pose = net->infer_pose(t, srcs).to_vector();  // [b, S, 6]
      SFM_CHECK(pose.size() == (size_t)(k1 - k0) * S * 6, "sfm eval pose: the network returned ", pose.size(),
                " pose numbers for ", k1 - k0, " snippets of ", S, " sources");
      for (int k = k0; k < k1; ++k) {
        PoseList pred = snippet_poses_from_network(pose.data() + (size_t)(k - k0) * S * 6, N, target, rot);
        PoseList gt(s.poses.begin() + k, s.poses.begin() + k + N);
        gt = relative_to_first(gt);
        acc.add(snippet_ate(gt, pred));
        if (tum) {
          char name[64];
          std::snprintf(name, sizeof(name), "_%06d.txt", k);
          std::vector<double> ts(s.times.begin() + k, s.times.begin() + k + N);
          write_tum_trajectory((fs::path(a.get("tum-dir")) / "gt" / (s.name + name)).string(), gt, ts);
          write_tum_trajectory((fs::path(a.get("tum-dir")) / "pred" / (s.name + name)).string(), pred, ts);
        }
      }
      progress.advance(k1 - k0);
    }
  }
  progress.finish();
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  PoseErrorStats st = acc.stats();
  std::printf("%s\n%d-frame snippets; ATE in the ground truth's unit after a per-snippet scale; %.1f s\n",
              pose_table(st).c_str(), N, secs);
  if (a.has("out")) {
    nlohmann::json j;
    j["command"] = "eval pose";
    j["split"] = list_path;
    j["weights"] = a.get("pose-weights");
    j["seq_length"] = N;
    j["rotation"] = a.get("rotation");
    j["height"] = H;
    j["width"] = W;
    j["metrics"] = pose_stats_json(st);
    write_json_atomic(a.get("out"), j);
  }
  return 0;
}

}  // namespace

SFM_COMMAND("eval depth", "score depth: KITTI Eigen split (velodyne) or .npy ground truth", run_eval_depth);
SFM_COMMAND("eval pose", "score ego-motion: snippet ATE and rotation error against poses.txt", run_eval_pose);
