// sfm: one executable, subcommands registered by the files of cli/ (see command.h).
#include <algorithm>
#include <cstdio>
#include <exception>

#include "cli/command.h"

namespace sfm::cli {
std::vector<Command>& commands() {
  static std::vector<Command> c;
  return c;
}
}  // namespace sfm::cli

static void usage() {
  auto cmds = sfm::cli::commands();
  std::sort(cmds.begin(), cmds.end(), [](auto& a, auto& b) { return a.name < b.name; });
  std::printf("usage: sfm <command> [options]   (sfm <command> --help for its options)\n\ncommands:\n");
  for (auto& c : cmds) std::printf("  %-16s %s\n", c.name.c_str(), c.summary.c_str());
}

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    usage();
    return args.empty() ? 2 : 0;
  }
  const sfm::cli::Command* found = nullptr;
  size_t used = 0;
  for (const auto& c : sfm::cli::commands()) {
    if (args.size() >= 2 && c.name == args[0] + " " + args[1]) {
      found = &c;
      used = 2;
      break;
    }
  }
  if (!found)
    for (const auto& c : sfm::cli::commands())
      if (c.name == args[0]) {
        found = &c;
        used = 1;
        break;
      }
  if (!found) {
    bool group = false;
    for (const auto& c : sfm::cli::commands())
      if (c.name.rfind(args[0] + " ", 0) == 0) group = true;
    if (group) {
      // `sfm eval --help` lists the group's commands on stdout and succeeds; a bare or unknown
      // `sfm eval X` asks which one (exit 2).
      bool help = args.size() >= 2 && (args[1] == "--help" || args[1] == "-h" || args[1] == "help");
      std::FILE* o = help ? stdout : stderr;
      if (help)
        std::fprintf(o, "usage: sfm %s <command> [options]   (sfm %s <command> --help for its options)\n\ncommands:\n",
                     args[0].c_str(), args[0].c_str());
      else if (args.size() >= 2)
        std::fprintf(o, "sfm %s: unknown command '%s'; which one?\n", args[0].c_str(), args[1].c_str());
      else
        std::fprintf(o, "sfm %s: which one?\n", args[0].c_str());
      for (const auto& c : sfm::cli::commands())
        if (c.name.rfind(args[0] + " ", 0) == 0) std::fprintf(o, "  sfm %-14s %s\n", c.name.c_str(), c.summary.c_str());
      return help ? 0 : 2;
    }
    std::fprintf(stderr, "sfm: unknown command '%s'\n", args[0].c_str());
    usage();
    return 2;
  }
  try {
    return found->run(std::vector<std::string>(args.begin() + used, args.end()));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
