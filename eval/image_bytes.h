#pragma once
// Completeness of image files read from outside (no OpenCV here, so tests/fuzz runs it on
// arbitrary bytes): a truncated JPEG would otherwise be decoded partially, with only libjpeg's
// "Premature end of JPEG file" on stderr naming no file.
#include <cstddef>
#include <cstdint>
#include <string>

namespace sfm {

// Whether the bytes of a PNG or JPEG file are complete: "" when they are, else why not
// ("truncated JPEG: no end-of-image marker after the scan data", ...). A JPEG must hold a
// start-of-scan marker followed later by an end-of-image marker (FF D9); a PNG's chunks must
// run to an IEND chunk within the file. Other formats: "" (left to the decoder).
// A header claiming a side above kMaxImageSide is refused too ("PNG header claims 100000x100000
// pixels ..."), before a decoder tries to allocate it.
constexpr uint64_t kMaxImageSide = 32768;
std::string image_bytes_problem(const unsigned char* data, size_t n);

// Reads an image file whole and checks it with image_bytes_problem: throws sfm::Error
// "<who>: cannot decode image <path>: the file is truncated or damaged (<why>)" or "<who>: cannot read image <path>".
std::string read_image_file_checked(const std::string& path, const std::string& who);

}  // namespace sfm
