#include "train/own/cityscapes.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "boundary/error.h"

namespace sfm::own {
namespace fs = std::filesystem;

Eigen::Matrix3d read_cityscapes_camera(const std::string& path) {
  std::ifstream f(path);
  SFM_CHECK(f.good(), "prepare: cannot open camera file ", path);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(f);
  } catch (const std::exception& e) {
    fail("prepare: camera file ", path, " is not valid JSON: ", e.what());
  }
  double v[4];
  const char* keys[4] = {"fx", "fy", "u0", "v0"};
  for (int i = 0; i < 4; ++i) {
    SFM_CHECK(j.contains("intrinsic") && j["intrinsic"].contains(keys[i]) && j["intrinsic"][keys[i]].is_number(),
              "prepare: camera file ", path, " has no number intrinsic.", keys[i]);
    v[i] = j["intrinsic"][keys[i]].get<double>();
  }
  SFM_CHECK(v[0] > 0 && v[1] > 0, "prepare: camera file ", path, ": intrinsic.fx and fy must be > 0");
  Eigen::Matrix3d K;
  K << v[0], 0, v[2], 0, v[1], v[3], 0, 0, 1;
  return K;
}

std::vector<ImageSequence> cityscapes_sequences(const std::string& root, const std::vector<std::string>& splits) {
  SFM_CHECK(!splits.empty(), "prepare: no Cityscapes split given");
  std::vector<ImageSequence> out;
  const std::string suffix = "_leftImg8bit";
  for (const auto& split : splits) {
    fs::path sdir = fs::path(root) / "leftImg8bit_sequence" / split;
    SFM_CHECK(fs::is_directory(sdir), "prepare: --cityscapes ", root, " has no ", sdir.string(),
              " (expected leftImg8bit_sequence/<split>/<city>/*.png and camera/<split>/<city>/*.json)");
    std::vector<fs::path> cities;
    for (const auto& e : fs::directory_iterator(sdir))
      if (e.is_directory()) cities.push_back(e.path());
    std::sort(cities.begin(), cities.end());
    for (const auto& cdir : cities) {
      // "<city>_<seq>" -> (frame number, file)
      std::map<std::string, std::vector<std::pair<long, std::string>>> groups;
      for (const auto& e : fs::directory_iterator(cdir)) {
        std::string stem = e.path().stem().string();
        if (!e.is_regular_file() || e.path().extension() != ".png" || stem.size() <= suffix.size() ||
            stem.compare(stem.size() - suffix.size(), suffix.size(), suffix) != 0)
          continue;
        stem.resize(stem.size() - suffix.size());
        size_t u = stem.rfind('_');
        SFM_CHECK(u != std::string::npos && u > 0, "prepare: ", e.path().string(),
                  " is not named <city>_<seq>_<frame>_leftImg8bit.png");
        long frame = -1;
        try {
          frame = std::stol(stem.substr(u + 1));
        } catch (...) {
        }
        SFM_CHECK(frame >= 0, "prepare: ", e.path().string(), " is not named <city>_<seq>_<frame>_leftImg8bit.png");
        groups[stem.substr(0, u)].push_back({frame, e.path().string()});
      }
      fs::path camdir = fs::path(root) / "camera" / split / cdir.filename();
      for (auto& [name, frames] : groups) {
        std::sort(frames.begin(), frames.end());
        std::vector<std::string> jsons;
        if (fs::is_directory(camdir))
          for (const auto& e : fs::directory_iterator(camdir)) {
            std::string fn = e.path().filename().string();
            if (fn.rfind(name + "_", 0) == 0 && fn.size() > 12 && fn.compare(fn.size() - 12, 12, "_camera.json") == 0)
              jsons.push_back(e.path().string());
          }
        std::sort(jsons.begin(), jsons.end());
        SFM_CHECK(!jsons.empty(), "prepare: no camera file ", (camdir / (name + "_*_camera.json")).string(),
                  " for the Cityscapes sequence ", frames.front().second);
        ImageSequence q;
        q.scene = name;
        for (const auto& f : frames) q.files.push_back(f.second);
        q.K = read_cityscapes_camera(jsons.front());
        out.push_back(std::move(q));
      }
    }
  }
  SFM_CHECK(!out.empty(), "prepare: no *_leftImg8bit.png sequence under ", root, "/leftImg8bit_sequence");
  std::sort(out.begin(), out.end(), [](const ImageSequence& a, const ImageSequence& b) { return a.scene < b.scene; });
  return out;
}

}  // namespace sfm::own
