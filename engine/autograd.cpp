#include "engine/autograd.h"

#include <unordered_map>
#include <unordered_set>

#include "engine/ops.h"

namespace sfm {

static thread_local bool g_grad_enabled = true;

bool grad_enabled() { return g_grad_enabled; }
NoGradGuard::NoGradGuard() : prev_(g_grad_enabled) { g_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { g_grad_enabled = prev_; }

static bool wants(const Tensor& t) { return t.defined() && (t.requires_grad() || t.grad_fn() != nullptr); }

bool needs_grad(std::initializer_list<const Tensor*> inputs) {
  if (!g_grad_enabled) return false;
  for (const Tensor* t : inputs)
    if (t && wants(*t)) return true;
  return false;
}
bool needs_grad(const std::vector<Tensor>& inputs) {
  if (!g_grad_enabled) return false;
  for (const Tensor& t : inputs)
    if (wants(t)) return true;
  return false;
}

Tensor record(const char* op, Tensor out, std::vector<Tensor> inputs,
              std::function<std::vector<Tensor>(const Tensor&)> bw) {
  if (!needs_grad(inputs)) return out;
  auto node = std::make_shared<Node>();
  node->op = op;
  node->inputs = std::move(inputs);
  node->backward = std::move(bw);
  out.set_grad_fn(std::move(node));
  return out;
}

static void accumulate(Tensor& slot, const Tensor& g) {
  if (!slot.defined()) {
    slot = g;
  } else {
    slot = add(slot, g);  // never in place: g may be shared with another slot
  }
}

void backward(const Tensor& root, const Tensor& grad_output) {
  SFM_CHECK(root.defined(), "backward: undefined root tensor");
  Tensor seed = grad_output;
  if (!seed.defined()) {
    SFM_CHECK(root.numel() == 1, "backward: the root has shape ", root.shape().str(),
              "; pass a grad_output for a non-scalar root");
    seed = Tensor::ones(root.shape(), root.dtype(), root.device());
  } else {
    SFM_CHECK(seed.shape() == root.shape(), "backward: grad_output ", seed.shape().str(), " for root ", root.shape().str());
  }
  NoGradGuard no_grad;  // backward functions are not themselves recorded
  if (!root.grad_fn()) {
    if (root.requires_grad()) {
      Tensor g = root.grad();
      accumulate(g, seed);
      const_cast<Tensor&>(root).set_grad(g);
    }
    return;
  }
  // Topological order by iterative DFS over nodes.
  std::vector<Node*> order;
  std::unordered_set<Node*> seen;
  std::vector<std::pair<Node*, size_t>> stack{{root.grad_fn().get(), 0}};
  seen.insert(root.grad_fn().get());
  while (!stack.empty()) {
    auto& [n, i] = stack.back();
    if (i < n->inputs.size()) {
      const Tensor& in = n->inputs[i++];
      if (in.defined() && in.grad_fn() && !seen.count(in.grad_fn().get())) {
        seen.insert(in.grad_fn().get());
        stack.push_back({in.grad_fn().get(), 0});
      }
    } else {
      order.push_back(n);
      stack.pop_back();
    }
  }
  std::unordered_map<Node*, Tensor> pending;
  pending[root.grad_fn().get()] = seed;
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    Node* n = *it;
    auto pit = pending.find(n);
    if (pit == pending.end()) continue;
    Tensor g = std::move(pit->second);
    pending.erase(pit);
    std::vector<Tensor> gin = n->backward(g);
    SFM_CHECK(gin.size() == n->inputs.size(), "backward of ", n->op, ": returned ", gin.size(),
              " gradients for ", n->inputs.size(), " inputs");
    for (size_t i = 0; i < gin.size(); ++i) {
      Tensor& in = n->inputs[i];
      if (!gin[i].defined() || !in.defined()) continue;
      SFM_CHECK(gin[i].shape() == in.shape(), "backward of ", n->op, ": gradient ", gin[i].shape().str(),
                " for input ", i, " of shape ", in.shape().str());
      if (in.grad_fn()) {
        accumulate(pending[in.grad_fn().get()], gin[i]);
      } else if (in.requires_grad()) {
        Tensor acc = in.grad();
        accumulate(acc, gin[i]);
        in.set_grad(acc);
      }
    }
  }
}

}  // namespace sfm
