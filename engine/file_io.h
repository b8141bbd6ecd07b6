#pragma once
// Whole-file writes that never leave a half-written file under the final name: every writer of
// the project (checkpoints, generated data sets, reports, plots, benchmark JSON) goes through it.
#include <string>

namespace sfm {

// Writes bytes to `path` through a temporary file beside it and a rename, so a reader (or a
// run interrupted mid-write) sees either the old file or the whole new one.
void write_file_atomic(const std::string& path, const std::string& bytes);

}  // namespace sfm
