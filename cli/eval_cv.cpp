// `sfm eval depth`, `sfm eval pose` and `sfm eval odometry`: options in, eval/depth_eval.h,
// eval/pose_eval.h and eval/odometry_eval.h do the work (the KITTI Eigen-split depth protocol,
// depth against .npy ground truth, snippet ATE against poses.txt, whole-trajectory KITTI odometry
// metrics; see docs/evaluation.md), results printed and written here.
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "cli/args.h"
#include "cli/command.h"
#include "boundary/error.h"
#include "eval/depth_eval.h"
#include "eval/infer.h"
#include "eval/odometry_eval.h"
#include "eval/pose_eval.h"
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
  DepthEvalRun run;
  run.kitti_raw = a.get("kitti-raw");
  run.data = a.get("data");
  run.split = a.get("split");
  run.disp_weights = a.get("disp-weights");
  run.pred = a.get("pred");
  run.gt = parse_velo_depth(a.get("gt"));
  run.metrics.min_depth = a.get_double("min-depth");
  run.metrics.max_depth = a.get_double("max-depth");
  run.metrics.garg_crop = a.get_flag("garg-crop");
  run.metrics.median_scaling = !a.get_flag("no-median-scaling");
  run.metrics.clamp = parse_clamp_order(a.get("scoring"));
  run.resize = parse_pred_resize(a.get("resize"));
  run.height = a.get_int("height");
  run.width = a.get_int("width");
  run.batch_size = a.get_int("batch-size");
  if (a.has("disp-weights")) run.device = parse_device(a.get("device"));  // --pred runs no network
  run.save_pred = a.get("save-pred");

  DepthEvalResult r = evaluate_depth(run);
  std::printf("%s\n", depth_table(r.mean).c_str());
  std::printf("%lld images scored, %lld without valid ground truth; mean median-scale %.4f; %.1f s\n",
              (long long)r.images, (long long)r.skipped, r.mean.scale, r.seconds);
  SFM_CHECK(r.images > 0, "sfm eval depth: no image had valid ground truth in (", run.metrics.min_depth, ", ",
            run.metrics.max_depth, ")");
  if (a.has("out")) write_json_atomic(a.get("out"), depth_eval_json(run, r));
  return 0;
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
      .option("trajectory-out", "write each scene's chained trajectory as DIR/<scene>.txt (KITTI format, for\n"
                                "sfm eval odometry)")
      .option("out", "write the results as JSON to this file");
  if (!a.parse(argv)) return 0;
  check_output_file(a, "out", "sfm eval pose");
  if (a.has("trajectory-out")) {
    std::error_code ec;
    SFM_CHECK(!fs::exists(a.get("trajectory-out"), ec) || fs::is_directory(a.get("trajectory-out"), ec),
              "sfm eval pose: --trajectory-out ", a.get("trajectory-out"), " is a file (give a folder)");
  }
  PoseEvalRun run;
  run.pose_weights = a.get("pose-weights");
  run.data = a.get("data");
  run.split = a.get("split");
  if (a.has("seq-length")) run.seq_length = a.get_int("seq-length");
  run.rotation = parse_rotation_mode(a.get("rotation"));
  run.height = a.get_int("height");
  run.width = a.get_int("width");
  run.batch_size = a.get_int("batch-size");
  run.device = parse_device(a.get("device"));
  run.tum_dir = a.get("tum-dir");
  run.trajectory_out = a.get("trajectory-out");

  PoseEvalResult r = evaluate_pose(run);
  std::printf("%s\n%d-frame snippets; ATE in the ground truth's unit after a per-snippet scale; %.1f s\n",
              pose_table(r.stats).c_str(), r.seq_length, r.seconds);
  if (!r.trajectories.empty())
    std::printf("%zu trajectories written to %s\n", r.trajectories.size(), run.trajectory_out.c_str());
  if (a.has("out")) write_json_atomic(a.get("out"), pose_eval_json(run, r));
  return 0;
}

// "100,200" -> {100, 200}: positive numbers.
std::vector<double> parse_lengths(const std::string& s) {
  std::vector<double> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    char* end = nullptr;
    double v = std::strtod(item.c_str(), &end);
    SFM_CHECK(!item.empty() && end == item.c_str() + item.size() && v > 0 && std::isfinite(v),
              "--segment-lengths '", s, "': '", item, "' is not a positive number");
    out.push_back(v);
  }
  SFM_CHECK(!out.empty(), "--segment-lengths is empty");
  return out;
}

int run_eval_odometry(const std::vector<std::string>& argv) {
  cli::Args a("eval odometry",
              "Scores whole trajectories in the KITTI odometry format (12 numbers per line, or 13 with a leading\n"
              "frame index): the devkit's t_err (%) and r_err (deg/100 m) over 100..800 m segments, ATE and RPE,\n"
              "after both trajectories are taken relative to their first pose and the prediction is aligned.");
  a.option("gt", "ground truth: DIR/<seq>.txt (KITTI poses/) or DIR/<seq>/poses.txt (formatted data)", "", true)
      .option("pred", "predictions: DIR/<seq>.txt (sfm eval pose --trajectory-out)", "", true)
      .option("seqs", "comma-separated sequences, e.g. 09,10 (default: every .txt of --pred)")
      .option("align", "none, scale (least squares), scale_7dof (the 7-DoF fit's scale), 7dof or 6dof (Umeyama)",
              "none")
      .option("segment-lengths", "segment lengths in metres (the devkit's: 100,...,800)",
              "100,200,300,400,500,600,700,800")
      .option("step", "a segment starts every STEP frames", "10")
      .option("plots", "write <seq>_trajectory.png and <seq>_segment_errors.png to this folder")
      .option("out", "write the results as JSON to this file");
  if (!a.parse(argv)) return 0;
  check_output_file(a, "out", "sfm eval odometry");
  OdometryEvalRun run;
  run.gt_dir = a.get("gt");
  run.pred_dir = a.get("pred");
  if (a.has("seqs")) run.seqs = parse_sequence_list(a.get("seqs"));
  run.metrics.align = parse_odometry_align(a.get("align"));
  run.metrics.lengths = parse_lengths(a.get("segment-lengths"));
  run.metrics.step = a.get_int("step");
  SFM_CHECK(run.metrics.step > 0, "--step must be positive, got ", run.metrics.step);
  run.plots_dir = a.get("plots");
  if (a.has("plots")) {
    std::error_code ec;
    SFM_CHECK(!fs::exists(run.plots_dir, ec) || fs::is_directory(run.plots_dir, ec), "sfm eval odometry: --plots ",
              run.plots_dir, " is a file (give a folder)");
  }

  OdometryEvalResult r = evaluate_odometry(run);
  std::printf("%s", odometry_table(r).c_str());
  std::printf("align %s; t_err, r_err: mean over %lld segments%s\n", odometry_align_name(run.metrics.align),
              (long long)r.total_segments,
              r.total_segments == 0 ? " (no sequence is longer than the shortest segment: t_err and r_err are NaN)" : "");
  if (a.has("out")) write_json_atomic(a.get("out"), odometry_eval_json(run, r));
  return 0;
}

}  // namespace

SFM_COMMAND("eval depth", "score depth: KITTI Eigen split (velodyne) or .npy ground truth", run_eval_depth);
SFM_COMMAND("eval pose", "score ego-motion: snippet ATE and rotation error against poses.txt", run_eval_pose);
SFM_COMMAND("eval odometry", "score trajectories: KITTI t_err, r_err, ATE and RPE after an alignment",
            run_eval_odometry);
