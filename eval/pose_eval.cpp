#include "eval/pose_eval.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>

#include "boundary/error.h"
#include "eval/data_layout.h"
#include "eval/infer.h"
#include "eval/kitti_trajectory.h"
#include "eval/report.h"

namespace fs = std::filesystem;

namespace sfm::eval {
namespace {

struct PoseScene {
  std::string dir, name;  // name: the folder relative to the data root, '/' -> '_' (TUM file names)
  std::vector<std::string> frames;
  PoseList poses;  // camera-to-world, per frame
  std::vector<double> times;
};

// A listed scene with its frames, poses and timestamps (the frame index without times.txt).
PoseScene read_pose_scene(const std::string& root, const std::string& dir) {
  PoseScene s;
  std::error_code ec;
  s.dir = dir;
  s.name = fs::relative(dir, root, ec).string();
  std::replace(s.name.begin(), s.name.end(), '/', '_');
  s.frames = list_scene_frames(dir);
  std::string pp = scene_poses_file(dir);
  SFM_CHECK(fs::is_regular_file(pp, ec), "scene ", dir, " has no poses.txt (needed for sfm eval pose)");
  for (const Pose34& T : read_poses_file(pp, "sfm eval pose")) s.poses.push_back(pose_from_3x4(T));
  SFM_CHECK(s.poses.size() == s.frames.size(), pp, " has ", s.poses.size(), " poses for ", s.frames.size(),
            " frames in ", dir);
  std::string tp = scene_times_file(dir);
  if (fs::is_regular_file(tp, ec)) {
    s.times = read_times_file(tp, s.frames.size(), "sfm eval pose");
  } else {
    for (size_t i = 0; i < s.frames.size(); ++i) s.times.push_back((double)i);
  }
  return s;
}

}  // namespace

PoseEvalResult evaluate_pose(const PoseEvalRun& run) {
  const int H = run.height, W = run.width, B = run.batch_size;
  SFM_CHECK(H > 0 && W > 0 && B > 0, "sfm eval pose: --height, --width and --batch-size must be positive");
  PoseEvalResult result;
  result.split = split_list_path_or_file(run.data, run.split);
  std::vector<SceneListEntry> scenes = read_scene_list(run.data, result.split, "sfm eval pose");
  SFM_CHECK(!scenes.empty(), "scene list ", result.split, " is empty");

  std::unique_ptr<PoseExpNet> net = load_posenet(run.pose_weights, run.device);
  const int S = net->config().num_sources, N = S + 1, target = N / 2;
  if (run.seq_length)
    SFM_CHECK(*run.seq_length == N, "sfm eval pose: --seq-length ", *run.seq_length, " but ", run.pose_weights,
              " was trained for ", N, " frames (", S, " sources)");
  SFM_CHECK(N % 2 == 1, "sfm eval pose: the checkpoint takes ", N, " frames; snippets need an odd length (3, 5)");
  result.seq_length = N;

  // Check every scene before any network work.
  std::vector<PoseScene> todo;
  int64_t total = 0;
  for (const auto& e : scenes) {
    todo.push_back(read_pose_scene(run.data, e.dir));
    const PoseScene& s = todo.back();
    if ((int)s.frames.size() >= N) {
      total += (int64_t)s.frames.size() - N + 1;
    } else {
      result.short_scenes.emplace_back(s.dir, (int)s.frames.size());
      std::fprintf(stderr, "sfm eval pose: note: scene %s has %zu frames, fewer than the %d of a snippet: not scored\n",
                   s.dir.c_str(), s.frames.size(), N);
    }
  }
  SFM_CHECK(total > 0, "sfm eval pose: no scene of ", result.split, " has ", N, " frames or more");
  const bool tum = !run.tum_dir.empty();
  if (tum) {
    fs::create_directories(fs::path(run.tum_dir) / "gt");
    fs::create_directories(fs::path(run.tum_dir) / "pred");
  }
  const bool chain = !run.trajectory_out.empty();
  if (chain) fs::create_directories(run.trajectory_out);

  PoseErrorAccumulator acc;
  ProgressLine progress("eval pose", total);
  auto t0 = std::chrono::steady_clock::now();
  for (const PoseScene& s : todo) {
    int snippets = (int)s.frames.size() - N + 1;
    std::vector<PoseList> scene_snippets;  // for the chained trajectory
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
        PoseList pred = snippet_poses_from_network(pose.data() + (size_t)(k - k0) * S * 6, N, target, run.rotation);
        PoseList gt = relative_to_first(PoseList(s.poses.begin() + k, s.poses.begin() + k + N));
        acc.add(snippet_ate(gt, pred));
        if (chain) scene_snippets.push_back(pred);
        if (tum) {
          char name[64];
          std::snprintf(name, sizeof(name), "_%06d.txt", k);
          std::vector<double> ts(s.times.begin() + k, s.times.begin() + k + N);
          write_tum_trajectory((fs::path(run.tum_dir) / "gt" / (s.name + name)).string(), gt, ts);
          write_tum_trajectory((fs::path(run.tum_dir) / "pred" / (s.name + name)).string(), pred, ts);
        }
      }
      progress.advance(k1 - k0);
    }
    if (chain && !scene_snippets.empty()) {
      std::string path = (fs::path(run.trajectory_out) / (s.name + ".txt")).string();
      write_kitti_trajectory(path, chain_snippets(scene_snippets, target));
      result.trajectories.push_back(path);
    }
  }
  progress.finish();
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  result.stats = acc.stats();
  return result;
}

nlohmann::json pose_eval_json(const PoseEvalRun& run, const PoseEvalResult& r) {
  nlohmann::json j;
  j["command"] = "eval pose";
  j["split"] = r.split;
  j["weights"] = run.pose_weights;
  j["seq_length"] = r.seq_length;
  j["rotation"] = rotation_mode_name(run.rotation);
  j["height"] = run.height;
  j["width"] = run.width;
  j["metrics"] = pose_stats_json(r.stats);
  if (!r.trajectories.empty()) j["trajectories"] = r.trajectories;
  for (const auto& [scene, frames] : r.short_scenes)
    j["scenes_too_short"].push_back({{"scene", scene}, {"frames", frames}});
  return j;
}

}  // namespace sfm::eval
