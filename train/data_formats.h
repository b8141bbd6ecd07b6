#pragma once
// The text and byte formats of a formatted data set, parsed from memory with no OpenCV (so the
// fuzz targets of tests/fuzz/ run them on arbitrary bytes): cam.txt (and the TensorFlow
// layout's <frame>_cam.txt), poses.txt, the split lists,. (The completeness check of
// an image file's bytes is eval/image_bytes.h.) The Dataset (train/dataset.cpp) reads files and calls these.
#include <array>
#include <cstddef>
#include <string>
#include <vector>

namespace sfm {

// The whitespace-separated words of a line.
std::vector<std::string> tokens(const std::string& s);

// Numbers separated by whitespace or commas. Throws sfm::Error "<where>: '<tok>' is not a
// number" for a token that is not one (or overflows).
std::vector<double> parse_numbers_text(const std::string& text, const std::string& where);

// What is wrong with a cam.txt's numbers as 3x3 intrinsics (row-major), or "" when nothing:
// 9 numbers, all finite, fx = K[0][0] > 0, fy = K[1][1] > 0, the last row 0 0 1.
std::string intrinsics_problem(const std::vector<double>& k);

// poses.txt: one line of 12 finite numbers (a row-major 3x4 camera-to-world matrix) per
// frame, blank lines ignored. Throws sfm::Error "<where>: line N ..." naming the line.
std::vector<std::array<double, 12>> parse_poses_text(const std::string& text, const std::string& where);

// A split list (train.txt, val.txt): its lines, with surrounding whitespace (and \r) removed.
std::vector<std::string> split_list_lines(const std::string& text);

}  // namespace sfm
