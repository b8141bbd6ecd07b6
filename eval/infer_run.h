#pragma once
// `sfm infer` as a function: DispNet on an image, a folder of images or a video, writing
// OUT/<name>_disp.png (colour-mapped disparity), with npy OUT/<name>_disp.npy (the raw
// finest-scale disparity), and for a video <video>_NNNNNN_disp.* per frame plus
// <video>_disp.mp4 (input above disparity). Every file is written under a temporary name and
// renamed (docs/evaluation.md). The command parses its options into an InferRun, calls
// run_inference and prints what it returns.
#include <optional>
#include <string>

#include "engine/tensor.h"  // Device
#include "eval/colormap.h"

namespace sfm::eval {

struct InferRun {
  std::string disp_weights;  // DispNet weights (.safetensors, or a checkpoint folder)
  std::string input;         // an image, a folder of images, or a video file
  std::string out_dir;       // created
  int height = 128, width = 416, batch_size = 4;
  bool npy = false;          // also write the raw disparity as .npy
  ColorMap colormap = ColorMap::Magma;
  Device device = Device::CPU;
  std::optional<double> fps;  // frame rate of the output video (> 0, <= 1000); unset: the input's
};

struct InferResult {
  int frames = 0;
  double seconds = 0;     // prediction and writing, after loading the network
  std::string video_out;  // the mp4 written for a video input ("" otherwise)
  double video_fps = 0;   // its frame rate
  bool interrupted = false;  // stopped by SIGINT/SIGTERM/SIGHUP (install_infer_stop_handlers):
                             // the frames' files written so far are complete, the partial video
                             // (its temporary file) is removed and video_out stays ""
};

// Makes SIGINT, SIGTERM and SIGHUP stop run_inference after the batch in progress (the command
// installs them; a library caller keeps its own handlers). request_infer_stop() does the same.
void install_infer_stop_handlers();
void request_infer_stop();

// Checks the options and the input (an error names it) before loading the network; two
// inputs of a folder with the same name stem are refused, and so is an --out that is the
// --input folder or inside it (the outputs would be inputs of the next run). Progress and warnings on stderr.
InferResult run_inference(const InferRun& run);

}  // namespace sfm::eval
