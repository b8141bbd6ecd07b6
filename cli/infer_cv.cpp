// `sfm infer`: DispNet on an image, a folder of images or a video; colour-mapped disparity PNGs
// (and an mp4 for a video), optionally the raw finest-scale disparity as .npy. The work is
// eval/infer_run.h; this file parses the options and prints the summary.
#include <cstdio>

#include "cli/args.h"
#include "cli/command.h"
#include "eval/colormap.h"
#include "eval/infer.h"
#include "eval/infer_run.h"

using namespace sfm;
using namespace sfm::eval;

namespace {

int run_infer(const std::vector<std::string>& argv) {
  cli::Args a("infer",
              "Runs DispNet on an image, a folder of images or a video file. Writes DIR/<name>_disp.png (colour-\n"
              "mapped disparity, magma, range [min, 95th percentile] per frame) and, with --npy, the raw finest-\n"
              "scale disparity DIR/<name>_disp.npy (float32 [H,W]); a video gives <name>_NNNNNN_disp.* per frame\n"
              "and <name>_disp.mp4 (input above disparity). Inputs are resized to the network size with\n"
              "INTER_AREA unless already at it.");
  a.option("disp-weights", "DispNet weights (.safetensors, or a checkpoint folder)", "", true)
      .option("input", "an image, a folder of images, or a video file", "", true)
      .option("out", "output folder (created)", "", true)
      .option("height", "network input height", "128")
      .option("width", "network input width", "416")
      .flag("npy", "also write the raw disparity as .npy")
      .option("device", "cpu or cuda", "cpu")
      .option("batch-size", "frames per network call", "4")
      .option("colormap", "magma, inferno, plasma, viridis or gray", "magma")
      .option("fps", "frame rate of the output video (default: the input's)");
  if (!a.parse(argv)) return 0;
  InferRun run;
  run.disp_weights = a.get("disp-weights");
  run.input = a.get("input");
  run.out_dir = a.get("out");
  run.npy = a.get_flag("npy");
  run.colormap = parse_colormap(a.get("colormap"));
  run.height = a.get_int("height");
  run.width = a.get_int("width");
  run.batch_size = a.get_int("batch-size");
  if (a.has("fps")) run.fps = a.get_double("fps");
  run.device = parse_device(a.get("device"));

  install_infer_stop_handlers();  // SIGINT, SIGTERM, SIGHUP: stop after the batch, no temporary left
  InferResult r = run_inference(run);
  if (r.interrupted) return 130;
  if (!r.video_out.empty())
    std::printf("wrote %s (%d frames, %.1f fps)\n", r.video_out.c_str(), r.frames, r.video_fps);
  std::printf("%d frame%s in %.2f s (%.1f frames/s, %dx%d, batch %d) -> %s\n", r.frames, r.frames == 1 ? "" : "s",
              r.seconds, r.seconds > 0 ? r.frames / r.seconds : 0.0, run.width, run.height, run.batch_size,
              run.out_dir.c_str());
  return 0;
}

}  // namespace

SFM_COMMAND("infer", "DispNet depth on an image, a folder or a video (PNG, .npy, mp4)", run_infer);
