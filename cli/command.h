#pragma once
// Subcommands of the `sfm` executable register themselves with SFM_COMMAND; a name may have
// two words ("bench ops"). Each command gets the arguments after its name.
#include <functional>
#include <string>
#include <vector>

namespace sfm::cli {

struct Command {
  std::string name;     // "train", "bench ops"
  std::string summary;  // one line for `sfm --help`
  std::function<int(const std::vector<std::string>& args)> run;
};

std::vector<Command>& commands();
struct CommandRegistrar {
  explicit CommandRegistrar(Command c) { commands().push_back(std::move(c)); }
};

// Runs fn(argv) as one rank of a data-parallel job (mpirun, srun): an error on one rank ends the
// whole job at once (the other ranks would wait for it in their next collective call) with
// "sfm <command>: rank R of N (host): <message>". Without a launcher: fn(argv) as it is.
int run_as_rank(const std::string& command, const std::function<int(const std::vector<std::string>&)>& fn,
                const std::vector<std::string>& argv);

}  // namespace sfm::cli

#define SFM_CONCAT_INNER(a, b) a##b
#define SFM_CONCAT(a, b) SFM_CONCAT_INNER(a, b)
#define SFM_COMMAND(name, summary, fn) \
  static ::sfm::cli::CommandRegistrar SFM_CONCAT(sfm_command_, __LINE__)(::sfm::cli::Command{name, summary, fn})
