#pragma once
// Tensor: a reference-counted, contiguous NCHW array of float32 (or float64 on the CPU, for
// gradient checks) on the CPU or a CUDA device, with the autograd fields (requires_grad,
// grad, grad_fn). Copying a Tensor copies a handle; clone() copies the data.
#include <array>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "boundary/allocator.h"
#include "boundary/error.h"

namespace sfm {

enum class DType : uint8_t { F32, F64 };
size_t dtype_size(DType t);
const char* dtype_name(DType t);

template <class T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::F32; }
template <> constexpr DType dtype_of<double>() { return DType::F64; }

struct Shape {
  static constexpr int kMaxDims = 5;
  std::array<int64_t, kMaxDims> d{};
  int ndim = 0;

  Shape() = default;
  Shape(std::initializer_list<int64_t> dims);
  explicit Shape(const std::vector<int64_t>& dims);
  int64_t operator[](int i) const { return d[i]; }
  int64_t& operator[](int i) { return d[i]; }
  int64_t numel() const;
  std::vector<int64_t> vec() const { return std::vector<int64_t>(d.begin(), d.begin() + ndim); }
  std::string str() const;  // "[4, 3, 128, 416]"
  bool operator==(const Shape& o) const;
  bool operator!=(const Shape& o) const { return !(*this == o); }
};

struct Storage {
  void* data = nullptr;
  size_t bytes = 0;
  Device device = Device::CPU;
  Storage(size_t bytes, Device dev);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
};

struct Node;  // engine/autograd.h
struct TensorImpl;

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- creation (contents of empty() are undefined) ----
  static Tensor empty(const Shape& s, DType t = DType::F32, Device dev = Device::CPU);
  static Tensor zeros(const Shape& s, DType t = DType::F32, Device dev = Device::CPU);
  static Tensor ones(const Shape& s, DType t = DType::F32, Device dev = Device::CPU);
  static Tensor full(const Shape& s, double value, DType t = DType::F32, Device dev = Device::CPU);
  static Tensor from_vector(const std::vector<float>& v, const Shape& s, Device dev = Device::CPU);
  static Tensor from_vector(const std::vector<double>& v, const Shape& s, Device dev = Device::CPU);

  // ---- metadata ----
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  int ndim() const { return shape().ndim; }
  int64_t dim(int i) const;  // negative i counts from the end
  int64_t numel() const { return shape().numel(); }
  DType dtype() const;
  Device device() const;
  bool is_cuda() const { return device() == Device::CUDA; }
  std::string desc() const;  // "float32 cuda [4, 3, 128, 416]"

  // ---- data ----
  void* raw_data() const;  // pointer to the first element
  template <class T> T* data() const {
    SFM_CHECK(dtype() == dtype_of<T>(), "tensor data<", dtype_name(dtype_of<T>()), ">() on a ", desc());
    return static_cast<T*>(raw_data());
  }
  size_t nbytes() const { return numel() * dtype_size(dtype()); }
  // Host copies of the contents, converting dtype. For CUDA tensors this synchronises.
  std::vector<float> to_vector() const;
  std::vector<double> to_vector_f64() const;
  double item() const;  // a one-element tensor's value

  Tensor to(Device dev) const;  // a copy on dev (the same tensor if already there)
  Tensor to(DType t) const;     // a converted copy (the same tensor if already that type; CPU only for F64)
  Tensor cpu() const { return to(Device::CPU); }
  Tensor clone() const;         // a deep copy, detached from the tape
  Tensor detach() const;        // shares storage, no grad history
  Tensor view(const Shape& s) const;  // same storage, new shape (numel must match); no grad history
  // A view of batch entries [b0, b1) (free: contiguous). No grad history.
  Tensor batch_slice(int64_t b0, int64_t b1) const;

  void fill_(double value);
  void copy_(const Tensor& src);  // same shape; any device/dtype combination the backends support

  // ---- autograd ----
  bool requires_grad() const;
  Tensor& set_requires_grad(bool r = true);
  Tensor grad() const;  // undefined until a backward reaches it
  void set_grad(const Tensor& g);
  void zero_grad();  // drops the gradient
  const std::shared_ptr<Node>& grad_fn() const;
  void set_grad_fn(std::shared_ptr<Node> fn);
  // Backpropagates from this tensor (a scalar unless grad_output is given).
  void backward(const Tensor& grad_output = Tensor()) const;

  const std::string& name() const;
  Tensor& set_name(std::string n);

  TensorImpl* impl() const { return impl_.get(); }
  bool same(const Tensor& o) const { return impl_ == o.impl_; }

 private:
  std::shared_ptr<TensorImpl> impl_;
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  int64_t offset = 0;  // in elements
  Shape shape;
  DType dtype = DType::F32;
  Device device = Device::CPU;
  bool requires_grad = false;
  Tensor grad;
  std::shared_ptr<Node> grad_fn;
  std::string name;
};

// Copies bytes between devices (host<->device and device<->device go through the CUDA backend).
void copy_bytes(void* dst, Device dst_dev, const void* src, Device src_dev, size_t bytes);

}  // namespace sfm
