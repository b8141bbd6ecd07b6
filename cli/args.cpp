#include "cli/args.h"

#include <cctype>
#include <cstdio>
#include <sstream>

#include "boundary/error.h"

namespace sfm::cli {

Args::Args(std::string command, std::string description)
    : command_(std::move(command)), description_(std::move(description)) {}

Args& Args::option(const std::string& name, const std::string& help, const std::string& def, bool required) {
  order_.push_back(name);
  Opt o;
  o.help = help;
  o.def = def;
  o.required = required;
  opts_[name] = o;
  return *this;
}
Args& Args::flag(const std::string& name, const std::string& help) {
  order_.push_back(name);
  Opt o;
  o.help = help;
  o.is_flag = true;
  opts_[name] = o;
  return *this;
}
Args& Args::allow_extras(const std::string& help) {
  allow_extras_ = true;
  extras_help_ = help;
  return *this;
}

bool Args::parse(const std::vector<std::string>& args) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--help" || a == "-h") {
      std::fputs(help().c_str(), stdout);
      return false;
    }
    if (a.rfind("--", 0) != 0) {
      SFM_CHECK(allow_positional_, "sfm ", command_, ": unexpected argument '", a, "' (options are --key value; see sfm ",
                command_, " --help)");
      positional_.push_back(a);
      continue;
    }
    std::string key = a.substr(2), value;
    bool has_value = false;
    if (auto eq = key.find('='); eq != std::string::npos) {
      value = key.substr(eq + 1);
      key = key.substr(0, eq);
      has_value = true;
    }
    auto it = opts_.find(key);
    if (it == opts_.end()) {
      SFM_CHECK(allow_extras_, "sfm ", command_, ": unknown option --", key, " (see sfm ", command_, " --help)");
      if (!has_value) {
        SFM_CHECK(i + 1 < args.size(), "sfm ", command_, ": option --", key, " needs a value");
        value = args[++i];
        check_value(key, value);
      }
      extras_.push_back({key, value});
      continue;
    }
    Opt& o = it->second;
    if (o.is_flag) {
      SFM_CHECK(!has_value || value == "true" || value == "false", "sfm ", command_, ": flag --", key,
                " takes no value");
      o.given = true;
      o.value = has_value ? value : "true";
      continue;
    }
    if (!has_value) {
      SFM_CHECK(i + 1 < args.size(), "sfm ", command_, ": option --", key, " needs a value");
      value = args[++i];
      check_value(key, value);
    }
    o.given = true;
    o.value = value;
    o.values.push_back(value);
  }
  for (auto& [k, o] : opts_) SFM_CHECK(!o.required || o.given, "sfm ", command_, ": missing required option --", k);
  return true;
}

// `--out --quiet`: the next word is an option, not a value (write --out=--quiet to mean it).
void Args::check_value(const std::string& key, const std::string& value) const {
  bool option_like = value.size() > 2 && value.rfind("--", 0) == 0 && std::isalpha((unsigned char)value[2]);
  SFM_CHECK(!option_like, "sfm ", command_, ": option --", key, " needs a value, got the option '", value,
            "' (write --", key, "=", value, " if that is the value)");
}

bool Args::has(const std::string& name) const {
  auto it = opts_.find(name);
  SFM_CHECK(it != opts_.end(), "Args: option --", name, " was not declared");
  return it->second.given ? (!it->second.is_flag || it->second.value == "true") : !it->second.def.empty();
}
std::string Args::get(const std::string& name) const {
  auto it = opts_.find(name);
  SFM_CHECK(it != opts_.end(), "Args: option --", name, " was not declared");
  return it->second.given ? it->second.value : it->second.def;
}
std::vector<std::string> Args::get_all(const std::string& name) const {
  auto it = opts_.find(name);
  SFM_CHECK(it != opts_.end(), "Args: option --", name, " was not declared");
  if (it->second.given) return it->second.values;
  if (!it->second.def.empty()) return {it->second.def};
  return {};
}
int Args::get_int(const std::string& name) const {
  std::string v = get(name);
  try {
    size_t pos = 0;
    int r = std::stoi(v, &pos);
    if (pos == v.size()) return r;
  } catch (...) {
  }
  fail("sfm ", command_, ": option --", name, " expects an integer, got '", v, "'");
}
double Args::get_double(const std::string& name) const {
  std::string v = get(name);
  try {
    size_t pos = 0;
    double r = std::stod(v, &pos);
    if (pos == v.size()) return r;
  } catch (...) {
  }
  fail("sfm ", command_, ": option --", name, " expects a number, got '", v, "'");
}
bool Args::get_flag(const std::string& name) const { return get(name) == "true"; }

std::string Args::help() const {
  std::ostringstream os;
  os << "usage: sfm " << command_ << " [options]\n\n" << description_ << "\n\noptions:\n";
  for (const auto& name : order_) {
    const Opt& o = opts_.at(name);
    std::string left = "  --" + name + (o.is_flag ? "" : " X");
    os << left;
    for (size_t i = left.size(); i < 26; ++i) os << ' ';
    os << " " << o.help;
    if (o.required) os << " (required)";
    if (!o.def.empty()) os << " [default: " << o.def << "]";
    os << "\n";
  }
  if (allow_extras_) os << "  --KEY VALUE                " << extras_help_ << "\n";
  return os.str();
}

}  // namespace sfm::cli
