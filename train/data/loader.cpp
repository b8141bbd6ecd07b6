#include "train/data/loader.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>

#include "boundary/error.h"
#include "engine/rng.h"
#include "train/data/augment.h"

namespace sfm {

namespace {

using Clock = std::chrono::steady_clock;

// One decoded, resized, augmented snippet.
struct Sample {
  std::vector<cv::Mat> frames;  // CV_32FC3 RGB in [0,255], time order
  Eigen::Matrix3d K;
  cv::Mat depth;                // CV_32F or empty
  std::vector<Pose34> poses;    // empty when the data set has none
};

struct CachedFrame {
  cv::Mat img;    // CV_8UC3 RGB at (H, W)
  cv::Mat depth;  // CV_32F at (H, W) or empty
  std::string error;
};

struct Slot {
  SfMBatch batch;
  std::exception_ptr error;
};

}  // namespace

struct DataLoader::Impl {
  LoaderOptions opt;
  Dataset ds;
  AugmentOptions aug;
  size_t N = 0;
  int64_t B = 0;    // effective batch size
  int64_t bpe = 0;  // batches per epoch
  std::vector<Eigen::Matrix3d> K_target;                 // per scene, at (H, W)
  std::vector<std::vector<CachedFrame>> cache;           // in_memory: [scene][frame]

  // skip_bad bookkeeping
  mutable std::mutex bad_m;
  mutable std::set<size_t> bad_snippets;

  // permutation cache
  mutable std::mutex perm_m;
  mutable std::map<int64_t, std::shared_ptr<const std::vector<uint32_t>>> perms;

  // pipeline
  std::mutex m;
  std::condition_variable cv_work, cv_done;
  int64_t next_issue = 0, next_consume = 0;
  uint64_t generation = 0;
  std::map<int64_t, Slot> ready;
  bool stop = false, started = false;
  std::vector<std::thread> threads;

  // timing
  bool timing_started = false;
  Clock::time_point t_first;
  double wait_s = 0, total_s = 0;

  Impl(const std::string& root, const LoaderOptions& o)
      : opt(o), ds(root, DatasetOptions{o.seq_length, o.split, o.skip_bad, o.tf_seq_length, o.quiet}) {}

  ~Impl() {
    {
      std::lock_guard<std::mutex> lk(m);
      stop = true;
    }
    cv_work.notify_all();
    for (auto& t : threads) t.join();
  }

  // ---------------------------------------------------------------- frames
  CachedFrame load_frame_uncached(const SceneInfo& sc, const FrameRef& f, const cv::Mat* decoded) const {
    CachedFrame c;
    cv::Mat rgb = decoded ? frame_rgb_from(*decoded, sc, f) : read_frame_rgb(sc, f);
    c.img = resize_image_area(rgb, opt.width, opt.height);
    cv::Mat d = read_frame_depth(sc, f);
    if (!d.empty()) c.depth = resize_nearest(d, opt.width, opt.height);
    return c;
  }

  void preload() {
    // Every frame used by some snippet, decoded once.
    cache.resize(ds.num_scenes());
    std::vector<std::pair<int, int>> todo;
    for (size_t s = 0; s < ds.num_scenes(); ++s) cache[s].resize(ds.scene(s).frames.size());
    std::vector<std::vector<char>> used(ds.num_scenes());
    for (size_t s = 0; s < ds.num_scenes(); ++s) used[s].assign(ds.scene(s).frames.size(), 0);
    for (size_t i = 0; i < N; ++i) {
      const auto& sn = ds.snippet(i);
      for (int k = 0; k < ds.seq_length(); ++k) used[sn.scene][sn.first + k] = 1;
    }
    for (size_t s = 0; s < used.size(); ++s)
      for (size_t f = 0; f < used[s].size(); ++f)
        if (used[s][f]) todo.push_back({(int)s, (int)f});
    std::atomic<size_t> next{0};
    auto work = [&] {
      for (size_t i; (i = next.fetch_add(1)) < todo.size();) {
        auto [s, f] = todo[i];
        const auto& sc = ds.scene(s);
        try {
          cache[s][f] = load_frame_uncached(sc, sc.frames[f], nullptr);
        } catch (const std::exception& e) {
          cache[s][f].error = e.what();
        }
      }
    };
    int nt = std::max(1, opt.workers);
    std::vector<std::thread> ts;
    for (int t = 1; t < nt; ++t) ts.emplace_back(work);
    work();
    for (auto& t : ts) t.join();
  }

  // ---------------------------------------------------------------- one snippet
  Sample load_sample(size_t idx, bool augment, int64_t epoch) const {
    const auto& sn = ds.snippet(idx);
    const auto& sc = ds.scene(sn.scene);
    const int L = ds.seq_length();
    AugmentParams p;
    p.width = p.scaled_w = opt.width;
    p.height = p.scaled_h = opt.height;
    if (augment) p = sample_augment(aug, opt.width, opt.height, opt.seed, epoch, idx);

    Sample out;
    cv::Mat decoded;  // TF layout: the snippet's tiles share one file, decoded once
    std::string decoded_path;
    cv::Mat target_depth;
    for (int k = 0; k < L; ++k) {
      const FrameRef& f = sc.frames[sn.first + k];
      CachedFrame fr;
      if (!cache.empty()) {
        const CachedFrame& c = cache[sn.scene][sn.first + k];
        if (!c.error.empty()) throw Error(c.error);
        fr = c;
      } else if (f.tiles > 1) {
        if (decoded_path != f.path) {
          decoded = decode_image_bgr(f.path);
          decoded_path = f.path;
        }
        fr = load_frame_uncached(sc, f, &decoded);
      } else {
        fr = load_frame_uncached(sc, f, nullptr);
      }
      cv::Mat g = p.identity() ? fr.img : augment_image(fr.img, p);
      cv::Mat fl;
      g.convertTo(fl, CV_32FC3);
      color_jitter(fl, p);
      out.frames.push_back(fl);
      if (k == L / 2) target_depth = fr.depth;
    }
    out.K = augment_intrinsics(K_target[sn.scene], p);
    if (ds.has_depth()) {
      if (target_depth.empty())
        out.depth = cv::Mat::zeros(opt.height, opt.width, CV_32F);
      else
        out.depth = p.identity() ? target_depth : augment_depth(target_depth, p);
    }
    if (ds.has_poses())
      for (int k = 0; k < L; ++k) out.poses.push_back(augment_pose(sc.poses[sn.first + k], p));
    return out;
  }

  bool is_bad(size_t i) const {
    std::lock_guard<std::mutex> lk(bad_m);
    return bad_snippets.count(i) > 0;
  }
  void mark_bad(size_t i, const char* why) const {
    std::lock_guard<std::mutex> lk(bad_m);
    if (bad_snippets.insert(i).second && !opt.quiet)
      std::fprintf(stderr, "warning: skipped snippet %s: %s\n", ds.snippet_id(i).c_str(), why);
  }

  // ---------------------------------------------------------------- batches
  SfMBatch assemble(const std::vector<size_t>& idx, std::vector<Sample>& samples) const {
    const int64_t n = (int64_t)samples.size();
    const int L = ds.seq_length(), S = L - 1, H = opt.height, W = opt.width;
    SfMBatch b;
    b.tgt = Tensor::empty(Shape{n, 3, H, W});
    b.srcs = Tensor::empty(Shape{n, S, 3, H, W});
    b.K = Tensor::empty(Shape{n, 3, 3});
    if (ds.has_depth()) b.depth_gt = Tensor::empty(Shape{n, 1, H, W});
    if (ds.has_poses()) b.poses_gt = Tensor::empty(Shape{n, L, 3, 4});
    const int64_t plane = (int64_t)H * W;
    float* tgt = b.tgt.data<float>();
    float* srcs = b.srcs.data<float>();
    for (int64_t j = 0; j < n; ++j) {
      Sample& s = samples[j];
      int si = 0;
      for (int k = 0; k < L; ++k) {
        float* dst = k == L / 2 ? tgt + j * 3 * plane : srcs + ((j * S) + si++) * 3 * plane;
        const cv::Mat& im = s.frames[k];
        for (int y = 0; y < H; ++y) {
          const float* row = im.ptr<float>(y);
          for (int x = 0; x < W; ++x)
            // into SfMBatch's range, [-1,1] (models/sfmlearner.h)
            for (int c = 0; c < 3; ++c) dst[c * plane + (int64_t)y * W + x] = (row[3 * x + c] / 255.0f - 0.5f) / 0.5f;
        }
      }
      float* K = b.K.data<float>() + j * 9;
      for (int r = 0; r < 3; ++r)
        for (int c = 0; c < 3; ++c) K[r * 3 + c] = (float)s.K(r, c);
      if (b.depth_gt.defined()) {
        float* d = b.depth_gt.data<float>() + j * plane;
        for (int y = 0; y < H; ++y) std::copy(s.depth.ptr<float>(y), s.depth.ptr<float>(y) + W, d + (int64_t)y * W);
      }
      if (b.poses_gt.defined()) {
        float* P = b.poses_gt.data<float>() + j * L * 12;
        for (int k = 0; k < L; ++k)
          for (int e = 0; e < 12; ++e) P[k * 12 + e] = (float)s.poses[k](e / 4, e % 4);
      }
      b.ids.push_back(ds.snippet_id(idx[j]));
      b.snippets.push_back(idx[j]);
    }
    return b;
  }

  std::shared_ptr<const std::vector<uint32_t>> perm(int64_t e) const {
    std::lock_guard<std::mutex> lk(perm_m);
    int64_t key = opt.shuffle ? e : -1;
    auto it = perms.find(key);
    if (it != perms.end()) return it->second;
    auto p = std::make_shared<std::vector<uint32_t>>(N);
    for (size_t i = 0; i < N; ++i) (*p)[i] = (uint32_t)i;
    if (opt.shuffle) {
      Rng rng(mix_seed(opt.seed, (uint64_t)e, 0, 0x5417F1E));
      for (size_t i = N - 1; i > 0; --i) std::swap((*p)[i], (*p)[(size_t)rng.randint((int64_t)i + 1)]);
    }
    if (perms.size() >= 4) perms.erase(perms.begin());
    perms[key] = p;
    return p;
  }

  SfMBatch build_batch(int64_t g) const {
    const int64_t e = g / bpe, pos = g % bpe;
    auto pm = perm(e);
    std::vector<size_t> idx;
    std::vector<Sample> samples;
    const int64_t share = B / opt.shard_count;
    for (int64_t j = opt.shard_rank * share; j < (opt.shard_rank + 1) * share; ++j) {
      const size_t q = (size_t)(pos * B + j);
      if (!opt.skip_bad) {
        size_t i = (*pm)[q];
        samples.push_back(load_sample(i, opt.augment, e));
        idx.push_back(i);
        continue;
      }
      bool got = false;
      for (size_t t = 0; t < N && !got; ++t) {
        size_t i = (*pm)[(q + t) % N];
        if (is_bad(i)) continue;
        try {
          samples.push_back(load_sample(i, opt.augment, e));
          idx.push_back(i);
          got = true;
        } catch (const std::exception& ex) {
          mark_bad(i, ex.what());
        }
      }
      SFM_CHECK(got, "loader: no snippet of ", ds.root(), " can be loaded (all ", N, " failed)");
    }
    return assemble(idx, samples);
  }

  void worker() {
    std::unique_lock<std::mutex> lk(m);
    for (;;) {
      cv_work.wait(lk, [&] { return stop || next_issue < next_consume + std::max(1, opt.prefetch); });
      if (stop) return;
      int64_t g = next_issue++;
      uint64_t gen = generation;
      lk.unlock();
      Slot s;
      try {
        s.batch = build_batch(g);
      } catch (...) {
        s.error = std::current_exception();
      }
      lk.lock();
      if (gen == generation) {
        ready[g] = std::move(s);
        cv_done.notify_all();
      }
    }
  }
};

DataLoader::DataLoader(const std::string& root, LoaderOptions opt) {
  SFM_CHECK(opt.batch >= 1, "loader: batch must be >= 1, got ", opt.batch);
  SFM_CHECK(opt.height >= 1 && opt.width >= 1, "loader: bad image size ", opt.width, "x", opt.height);
  SFM_CHECK(opt.workers >= 0 && opt.prefetch >= 1, "loader: workers must be >= 0 and prefetch >= 1");
  impl_ = std::make_unique<Impl>(root, opt);
  Impl& I = *impl_;
  I.aug.scale_crop = true;
  I.aug.max_scale = opt.max_scale;
  I.aug.flip = opt.flip;
  I.aug.color_jitter = opt.color_jitter;
  I.N = I.ds.size();
  I.B = std::min<int64_t>(opt.batch, (int64_t)I.N);
  I.bpe = (int64_t)I.N / I.B;
  SFM_CHECK(opt.shard_count == 1 || opt.batch <= (int64_t)I.N, "loader: the global batch ", opt.batch, " (",
            opt.batch / std::max(1, opt.shard_count), " per rank x ", opt.shard_count, " ranks) is larger than the ", I.N,
            " snippets of ", root, " (", opt.split, " split)");
  SFM_CHECK(opt.shard_count >= 1 && opt.shard_rank >= 0 && opt.shard_rank < opt.shard_count,
            "loader: shard ", opt.shard_rank, " of ", opt.shard_count, " is out of range");
  SFM_CHECK(I.B % opt.shard_count == 0, "loader: the global batch ", I.B, " of ", root, " (", I.N,
            " snippets) does not split into ", opt.shard_count, " equal shares");
  for (size_t s = 0; s < I.ds.num_scenes(); ++s) {
    const auto& sc = I.ds.scene(s);
    I.K_target.push_back(resize_intrinsics(sc.K, sc.width, sc.height, opt.width, opt.height));
  }
  if (opt.in_memory) I.preload();
}

DataLoader::~DataLoader() = default;

size_t DataLoader::size() const { return impl_->N; }
int64_t DataLoader::batches_per_epoch() const { return impl_->bpe; }
const Dataset& DataLoader::dataset() const { return impl_->ds; }
const LoaderOptions& DataLoader::options() const { return impl_->opt; }

SfMBatch DataLoader::next() {
  Impl& I = *impl_;
  auto t0 = Clock::now();
  if (!I.timing_started) {
    I.timing_started = true;
    I.t_first = t0;
  }
  Slot s;
  if (I.opt.workers == 0) {
    int64_t g;
    {
      std::lock_guard<std::mutex> lk(I.m);
      g = I.next_consume++;
      I.next_issue = I.next_consume;
    }
    try {
      s.batch = I.build_batch(g);
    } catch (...) {
      s.error = std::current_exception();
    }
  } else {
    std::unique_lock<std::mutex> lk(I.m);
    if (!I.started) {
      I.started = true;
      for (int t = 0; t < I.opt.workers; ++t) I.threads.emplace_back([&I] { I.worker(); });
    }
    int64_t g = I.next_consume;
    I.cv_done.wait(lk, [&] { return I.ready.count(g) > 0; });
    s = std::move(I.ready[g]);
    I.ready.erase(g);
    I.next_consume++;
    lk.unlock();
    I.cv_work.notify_all();
  }
  auto t1 = Clock::now();
  I.wait_s += std::chrono::duration<double>(t1 - t0).count();
  I.total_s = std::chrono::duration<double>(t1 - I.t_first).count();
  if (s.error) std::rethrow_exception(s.error);
  return std::move(s.batch);
}

int64_t DataLoader::epoch() const {
  std::lock_guard<std::mutex> lk(impl_->m);
  return impl_->next_consume / impl_->bpe;
}
int64_t DataLoader::position() const {
  std::lock_guard<std::mutex> lk(impl_->m);
  return impl_->next_consume % impl_->bpe;
}

std::string DataLoader::state() const {
  const Impl& I = *impl_;
  int64_t g;
  {
    std::lock_guard<std::mutex> lk(impl_->m);
    g = I.next_consume;
  }
  nlohmann::json j;
  j["epoch"] = g / I.bpe;
  j["position"] = g % I.bpe;
  j["seed"] = I.opt.seed;
  j["snippets"] = I.N;
  j["batch"] = I.B;
  return j.dump();
}

void DataLoader::set_state(const std::string& s) {
  Impl& I = *impl_;
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(s);
  } catch (const std::exception& e) {
    fail("loader: set_state: not a loader state (", e.what(), "): '", s, "'");
  }
  for (const char* k : {"epoch", "position", "seed", "snippets", "batch"})
    SFM_CHECK(j.contains(k) && j[k].is_number_integer(), "loader: set_state: missing or non-integer '", k, "' in '", s,
              "'");
  SFM_CHECK(j["seed"].get<uint64_t>() == I.opt.seed, "loader: set_state: state is for seed ", j["seed"].get<uint64_t>(),
            ", this loader has seed ", I.opt.seed);
  SFM_CHECK(j["snippets"].get<uint64_t>() == I.N, "loader: set_state: state is for a data set of ",
            j["snippets"].get<uint64_t>(), " snippets, this one has ", I.N, " (data changed?)");
  SFM_CHECK(j["batch"].get<int64_t>() == I.B, "loader: set_state: state is for batch size ", j["batch"].get<int64_t>(),
            ", this loader uses ", I.B);
  int64_t e = j["epoch"].get<int64_t>(), p = j["position"].get<int64_t>();
  SFM_CHECK(e >= 0 && p >= 0 && p < I.bpe, "loader: set_state: epoch ", e, " position ", p, " out of range (",
            I.bpe, " batches per epoch)");
  {
    std::lock_guard<std::mutex> lk(I.m);
    I.generation++;
    I.ready.clear();
    I.next_consume = I.next_issue = e * I.bpe + p;
  }
  I.cv_work.notify_all();
}

int DataLoader::bad_count() const {
  std::lock_guard<std::mutex> lk(impl_->bad_m);
  return impl_->ds.bad_count() + (int)impl_->bad_snippets.size();
}

double DataLoader::wait_fraction() const {
  const Impl& I = *impl_;
  return I.total_s > 0 ? I.wait_s / I.total_s : 0.0;
}

SfMBatch DataLoader::get_snippets(const std::vector<size_t>& idx, bool augment, int64_t epoch) const {
  const Impl& I = *impl_;
  for (size_t i : idx) SFM_CHECK(i < I.N, "loader: get_snippets: index ", i, " out of range (", I.N, " snippets)");
  SFM_CHECK(!idx.empty(), "loader: get_snippets: no index given");
  std::vector<Sample> samples(idx.size());
  std::vector<char> ok(idx.size(), 0);
  std::vector<std::exception_ptr> errs(idx.size());
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t k; (k = next.fetch_add(1)) < idx.size();) {
      try {
        samples[k] = I.load_sample(idx[k], augment, epoch);
        ok[k] = 1;
      } catch (const std::exception& e) {
        if (I.opt.skip_bad)
          I.mark_bad(idx[k], e.what());
        else
          errs[k] = std::current_exception();
      }
    }
  };
  int nt = (int)std::min<size_t>(std::max(1, I.opt.workers), idx.size());
  std::vector<std::thread> ts;
  for (int t = 1; t < nt; ++t) ts.emplace_back(work);
  work();
  for (auto& t : ts) t.join();
  for (auto& e : errs)
    if (e) std::rethrow_exception(e);
  std::vector<size_t> kept;
  std::vector<Sample> ks;
  for (size_t k = 0; k < idx.size(); ++k)
    if (ok[k]) {
      kept.push_back(idx[k]);
      ks.push_back(std::move(samples[k]));
    }
  SFM_CHECK(!ks.empty(), "loader: get_snippets: none of the ", idx.size(), " snippets could be loaded");
  return I.assemble(kept, ks);
}

}  // namespace sfm
