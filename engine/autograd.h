#pragma once
// The tape. An op that sees an input requiring grad records a Node on its output: the inputs
// it read and a function from the output's gradient to one gradient per input. backward()
// orders the nodes reachable from the root topologically, walks them in reverse and
// accumulates gradients; leaves (parameters) receive them in .grad.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace sfm {

struct Node {
  std::string op;              // the op's name, for error messages and debugging
  std::vector<Tensor> inputs;  // the tensors the op read (the gradient goes to those that need it)
  // Returns one gradient per input (an undefined Tensor where an input needs none).
  std::function<std::vector<Tensor>(const Tensor& grad_output)> backward;
};

bool grad_enabled();
// Disables recording in its scope (inference, optimiser updates).
class NoGradGuard {
 public:
  NoGradGuard();
  ~NoGradGuard();
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool prev_;
};

// True when recording is on and some input requires a gradient.
bool needs_grad(std::initializer_list<const Tensor*> inputs);
bool needs_grad(const std::vector<Tensor>& inputs);

// Attaches a node to out (when needs_grad(inputs)) and returns out. The backward closure may
// capture inputs and other saved tensors, but never `out` itself (a reference cycle that
// leaks the graph): capture out.detach() instead.
Tensor record(const char* op, Tensor out, std::vector<Tensor> inputs,
              std::function<std::vector<Tensor>(const Tensor&)> backward);

void backward(const Tensor& root, const Tensor& grad_output = Tensor());

}  // namespace sfm
