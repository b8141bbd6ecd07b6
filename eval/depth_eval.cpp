#include "eval/depth_eval.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>

#include "boundary/error.h"
#include "engine/npy.h"
#include "eval/data_layout.h"
#include "eval/infer.h"
#include "eval/report.h"

namespace fs = std::filesystem;

namespace sfm::eval {
namespace {

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
  std::string name;   // for messages
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

std::vector<DepthItem> kitti_items(const DepthEvalRun& run, std::string* split_desc) {
  std::error_code ec;
  SFM_CHECK(fs::is_directory(run.kitti_raw, ec), "--kitti-raw: folder ", run.kitti_raw, " does not exist");
  *split_desc = run.split.empty() ? default_eigen_split_path() : run.split;
  std::vector<DepthItem> items;
  for (const auto& e : read_kitti_split(*split_desc)) {
    KittiFramePaths p = kitti_frame_paths(run.kitti_raw, e);
    DepthItem it;
    it.kitti = e;
    it.image = p.image;
    it.velodyne = p.velodyne;
    it.calib_dir = p.calib_dir;
    it.name = e.drive_dir + " " + e.frame + " " + e.side;
    items.push_back(std::move(it));
  }
  return items;
}

// Every frame of the listed scenes that has a depth map, scene by scene, by name within a scene.
std::vector<DepthItem> npy_items(const DepthEvalRun& run, std::string* split_desc) {
  *split_desc = split_list_path_or_file(run.data, run.split.empty() ? "val" : run.split);
  std::vector<SceneListEntry> scenes = read_scene_list(run.data, *split_desc, "sfm eval depth");
  SFM_CHECK(!scenes.empty(), "scene list ", *split_desc, " is empty");
  std::vector<DepthItem> items;
  for (const auto& s : scenes)
    for (const auto& f : list_scene_frames(s.dir)) {
      std::string npy = depth_map_path(f);
      if (npy.empty()) continue;
      DepthItem it;
      it.image = f;
      it.gt_npy = npy;
      it.name = f;
      items.push_back(std::move(it));
    }
  SFM_CHECK(!items.empty(), "sfm eval depth: no frame of the scenes in ", *split_desc,
            " has .npy ground truth (NNNNNNNNNN.npy beside the image)");
  return items;
}

// Ground truth of one item at its own size: the projected velodyne scan, or the .npy.
std::vector<float> ground_truth(const DepthEvalRun& run, const DepthItem& it, CalibCache& calib, const cv::Mat* image,
                                int* gh, int* gw) {
  if (!run.kitti_raw.empty()) {
    const auto& [c2c, v2c] = calib.get(it.calib_dir);
    int cam = it.kitti.cam();
    std::error_code ec;
    if (image) {
      *gh = image->rows;
      *gw = image->cols;
    } else if (fs::is_regular_file(it.image, ec)) {
      cv::Mat im = load_image_rgb(it.image);
      *gh = im.rows;
      *gw = im.cols;
    } else {
      auto s = rectified_image_size(c2c, cam);
      *gh = s[0];
      *gw = s[1];
    }
    return project_velodyne(load_velodyne_points(it.velodyne), velo_to_image_matrix(c2c, v2c, cam), *gh, *gw, run.gt);
  }
  NpyArray g = load_npy(it.gt_npy);
  const auto& s = g.shape;
  SFM_CHECK(s.size() == 2 || (s.size() == 3 && s[0] == 1), "ground truth ", it.gt_npy, ": expected [H,W] or [1,H,W]");
  *gh = (int)s[s.size() - 2];
  *gw = (int)s[s.size() - 1];
  return std::move(g.data);
}

}  // namespace

DepthEvalResult evaluate_depth(const DepthEvalRun& run) {
  SFM_CHECK(run.kitti_raw.empty() != run.data.empty(), "sfm eval depth: give exactly one of --kitti-raw and --data");
  SFM_CHECK(run.disp_weights.empty() != run.pred.empty(),
            "sfm eval depth: give exactly one of --disp-weights and --pred");
  DepthEvalOptions opt = run.metrics;
  SFM_CHECK(opt.min_depth >= 0 && opt.max_depth > opt.min_depth, "sfm eval depth: bad range --min-depth ",
            opt.min_depth, " --max-depth ", opt.max_depth);
  const int H = run.height, W = run.width, B = run.batch_size;
  SFM_CHECK(H > 0 && W > 0 && B > 0, "sfm eval depth: --height, --width and --batch-size must be positive");
  const bool kitti = !run.kitti_raw.empty();
  if (kitti) opt.garg_crop = true;

  DepthEvalResult result;
  std::vector<DepthItem> items = kitti ? kitti_items(run, &result.split) : npy_items(run, &result.split);

  // Fail fast on missing inputs, before any network work.
  const bool use_net = !run.disp_weights.empty();
  CalibCache calib;
  std::error_code ec;
  for (const auto& it : items) {
    if (use_net) SFM_CHECK(fs::is_regular_file(it.image, ec), "image ", it.image, " (", it.name, ") is missing");
    if (kitti) {
      SFM_CHECK(fs::is_regular_file(it.velodyne, ec), "velodyne file ", it.velodyne, " (", it.name, ") is missing");
      calib.get(it.calib_dir);  // reads and checks both calibration files of the date
    }
  }
  SavedPredictions saved;
  if (!use_net) saved = load_predictions(run.pred, items.size());

  std::unique_ptr<DispNet> net;
  if (use_net) net = load_dispnet(run.disp_weights, run.device);
  std::vector<float> save_buf;
  const bool save_pred = use_net && !run.save_pred.empty();

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
      int gh = 0, gw = 0;
      std::vector<float> gt = ground_truth(run, it, calib, use_net ? &imgs[i - b0] : nullptr, &gh, &gw);
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
        // A saved prediction is at the network's size or at the ground truth's; any other size
        // (another run's, another data set's) would be resized and scored against other pixels.
        SFM_CHECK((ph == H && pw == W) || (ph == gh && pw == gw), "sfm eval depth: --pred ", saved.path, " holds ",
                  ph, "x", pw, " predictions, but the ground truth of ", it.name, " is ", gh, "x", gw,
                  " and the network size (--height/--width) is ", H, "x", W, "; give --height ", ph, " --width ", pw,
                  " if the predictions are at the network's size");
      }
      std::string what = use_net ? it.name : saved.path + " [" + std::to_string(i) + "] (" + it.name + ")";
      std::vector<float> pred = disparity_to_depth(d, ph, pw, gh, gw, run.resize, what);
      acc.add(gt.data(), pred.data(), gh, gw, opt, what);
    }
    progress.advance((int64_t)(b1 - b0));
  }
  progress.finish();
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  if (save_pred) save_npy(run.save_pred, save_buf.data(), {(int64_t)items.size(), (int64_t)H, (int64_t)W});
  result.mean = acc.mean();
  result.images = acc.images;
  result.skipped = acc.skipped;
  return result;
}

nlohmann::json depth_eval_json(const DepthEvalRun& run, const DepthEvalResult& r) {
  const bool kitti = !run.kitti_raw.empty();
  nlohmann::json j;
  j["command"] = "eval depth";
  j["protocol"] = kitti ? "kitti-eigen" : "npy";
  j["split"] = r.split;
  if (kitti) j["gt"] = velo_depth_name(run.gt);
  j["source"] = run.disp_weights.empty() ? run.pred : run.disp_weights;
  j["min_depth"] = run.metrics.min_depth;
  j["max_depth"] = run.metrics.max_depth;
  j["garg_crop"] = kitti || run.metrics.garg_crop;
  j["median_scaling"] = run.metrics.median_scaling;
  j["scoring"] = clamp_order_name(run.metrics.clamp);
  j["resize"] = pred_resize_name(run.resize);
  j["height"] = run.height;
  j["width"] = run.width;
  j["images"] = r.images;
  j["skipped"] = r.skipped;
  j["mean_scale"] = r.mean.scale;
  j["metrics"] = depth_metrics_json(r.mean);
  return j;
}

}  // namespace sfm::eval
