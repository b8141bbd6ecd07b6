#include "engine/file_io.h"

#include <cstdio>
#include <fstream>

#include "engine/error.h"

namespace sfm {

void write_file_atomic(const std::string& path, const std::string& bytes) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    SFM_CHECK(f.good(), "cannot open '", tmp, "' for writing");
    f.write(bytes.data(), (std::streamsize)bytes.size());
    f.flush();
    SFM_CHECK(f.good(), "write to '", tmp, "' failed (disk full?)");
  }
  SFM_CHECK(std::rename(tmp.c_str(), path.c_str()) == 0, "cannot rename '", tmp, "' to '", path, "'");
}

}  // namespace sfm
