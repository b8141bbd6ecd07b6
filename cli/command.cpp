// How a command runs as one rank of a data-parallel job (cli/command.h).
#include "cli/command.h"

#include <unistd.h>

#include <exception>

#include "engine/collective.h"

namespace sfm::cli {

int run_as_rank(const std::string& command, const std::function<int(const std::vector<std::string>&)>& fn,
                const std::vector<std::string>& argv) {
  if (world().size() == 1) return fn(argv);
  try {
    return fn(argv);
  } catch (const std::exception& e) {
    char host[256] = "?";
    gethostname(host, sizeof host - 1);
    world().abort(1, "sfm " + command + ": rank " + std::to_string(world().rank()) + " of " +
                         std::to_string(world().size()) + " (" + host + "): " + e.what());
  }
  return 1;  // not reached: abort ends the process (g++ does not follow [[noreturn]] through a virtual call)
}

}  // namespace sfm::cli
