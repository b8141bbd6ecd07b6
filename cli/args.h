#pragma once
// A small command-line parser: declared options only (an unknown one is an error naming it),
// `--key value` or `--key=value`, boolean flags, and a generated --help.
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace sfm::cli {

class Args {
 public:
  Args(std::string command, std::string description);
  // Declares an option taking a value; default_value "" means "not set" unless required.
  Args& option(const std::string& name, const std::string& help, const std::string& default_value = "",
               bool required = false);
  Args& flag(const std::string& name, const std::string& help);
  // Accept any other --key value pair (returned by extras(); e.g. config overrides).
  Args& allow_extras(const std::string& help);
  // Accept words that are not options (returned by positional()); otherwise one is an error.
  Args& allow_positional() {
    allow_positional_ = true;
    return *this;
  }

  // Parses; returns false when --help was asked (the help has been printed). Throws
  // sfm::Error naming the offending option otherwise.
  bool parse(const std::vector<std::string>& args);

  bool has(const std::string& name) const;  // given on the command line (or a non-empty default)
  std::string get(const std::string& name) const;
  // Every value an option was given, in command-line order (`--video a --video b`); get()
  // returns the last one.
  std::vector<std::string> get_all(const std::string& name) const;
  int get_int(const std::string& name) const;
  double get_double(const std::string& name) const;
  bool get_flag(const std::string& name) const;
  const std::vector<std::pair<std::string, std::string>>& extras() const { return extras_; }
  const std::vector<std::string>& positional() const { return positional_; }
  std::string help() const;

 private:
  struct Opt {
    std::string help, def;
    bool is_flag = false, required = false, given = false;
    std::string value;
    std::vector<std::string> values;  // every value given, in order
  };
  std::string command_, description_, extras_help_;
  bool allow_extras_ = false, allow_positional_ = false;
  void check_value(const std::string& key, const std::string& value) const;
  std::vector<std::string> order_;
  std::map<std::string, Opt> opts_;
  std::vector<std::pair<std::string, std::string>> extras_;
  std::vector<std::string> positional_;
};

}  // namespace sfm::cli
