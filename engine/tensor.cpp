#include "engine/tensor.h"

#include <cstring>
#include <sstream>

#include "engine/autograd.h"
#include "boundary/device_runtime.h"

namespace sfm {

size_t dtype_size(DType t) { return t == DType::F32 ? 4 : 8; }
const char* dtype_name(DType t) { return t == DType::F32 ? "float32" : "float64"; }

// ---------------------------------------------------------------- Shape
Shape::Shape(std::initializer_list<int64_t> dims) {
  SFM_CHECK(dims.size() <= (size_t)kMaxDims, "Shape: at most ", kMaxDims, " dims, got ", dims.size());
  for (int64_t v : dims) {
    SFM_CHECK(v >= 0, "Shape: negative dimension ", v);
    d[ndim++] = v;
  }
}
Shape::Shape(const std::vector<int64_t>& dims) {
  SFM_CHECK(dims.size() <= (size_t)kMaxDims, "Shape: at most ", kMaxDims, " dims, got ", dims.size());
  for (int64_t v : dims) {
    SFM_CHECK(v >= 0, "Shape: negative dimension ", v);
    d[ndim++] = v;
  }
}
int64_t Shape::numel() const {
  int64_t n = 1;
  for (int i = 0; i < ndim; ++i) n *= d[i];
  return n;
}
std::string Shape::str() const {
  std::ostringstream os;
  os << "[";
  for (int i = 0; i < ndim; ++i) os << (i ? ", " : "") << d[i];
  os << "]";
  return os.str();
}
bool Shape::operator==(const Shape& o) const {
  if (ndim != o.ndim) return false;
  for (int i = 0; i < ndim; ++i)
    if (d[i] != o.d[i]) return false;
  return true;
}

// ---------------------------------------------------------------- Storage
Storage::Storage(size_t n, Device dev) : bytes(n), device(dev) {
  data = allocator_for(dev).allocate(n);
}
Storage::~Storage() { allocator_for(device).deallocate(data, bytes); }

void copy_bytes(void* dst, Device dst_dev, const void* src, Device src_dev, size_t bytes) {
  if (bytes == 0) return;
  if (dst_dev == Device::CPU && src_dev == Device::CPU) {
    std::memcpy(dst, src, bytes);
  } else {
    cuda_memcpy(dst, dst_dev, src, src_dev, bytes);
  }
}

// ---------------------------------------------------------------- Tensor
static std::shared_ptr<TensorImpl> make_impl(const Shape& s, DType t, Device dev) {
  SFM_CHECK(!(t == DType::F64 && dev == Device::CUDA), "float64 tensors exist on the CPU only (gradient checks)");
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(s.numel() * dtype_size(t), dev);
  impl->shape = s;
  impl->dtype = t;
  impl->device = dev;
  return impl;
}

Tensor Tensor::empty(const Shape& s, DType t, Device dev) { return Tensor(make_impl(s, t, dev)); }
Tensor Tensor::zeros(const Shape& s, DType t, Device dev) { return full(s, 0.0, t, dev); }
Tensor Tensor::ones(const Shape& s, DType t, Device dev) { return full(s, 1.0, t, dev); }
Tensor Tensor::full(const Shape& s, double value, DType t, Device dev) {
  Tensor r = empty(s, t, dev);
  r.fill_(value);
  return r;
}
Tensor Tensor::from_vector(const std::vector<float>& v, const Shape& s, Device dev) {
  SFM_CHECK((int64_t)v.size() == s.numel(), "Tensor::from_vector: ", v.size(), " values for shape ", s.str());
  Tensor r = empty(s, DType::F32, dev);
  copy_bytes(r.raw_data(), dev, v.data(), Device::CPU, v.size() * 4);
  return r;
}
Tensor Tensor::from_vector(const std::vector<double>& v, const Shape& s, Device dev) {
  SFM_CHECK((int64_t)v.size() == s.numel(), "Tensor::from_vector: ", v.size(), " values for shape ", s.str());
  SFM_CHECK(dev == Device::CPU, "float64 tensors exist on the CPU only");
  Tensor r = empty(s, DType::F64, dev);
  std::memcpy(r.raw_data(), v.data(), v.size() * 8);
  return r;
}

static TensorImpl& need(const std::shared_ptr<TensorImpl>& p) {
  SFM_CHECK(p != nullptr, "use of an undefined tensor");
  return *p;
}

const Shape& Tensor::shape() const { return need(impl_).shape; }
int64_t Tensor::dim(int i) const {
  const Shape& s = shape();
  int j = i < 0 ? i + s.ndim : i;
  SFM_CHECK(j >= 0 && j < s.ndim, "dim(", i, ") of a tensor with shape ", s.str());
  return s[j];
}
DType Tensor::dtype() const { return need(impl_).dtype; }
Device Tensor::device() const { return need(impl_).device; }
std::string Tensor::desc() const {
  if (!impl_) return "undefined tensor";
  return std::string(dtype_name(dtype())) + " " + device_name(device()) + " " + shape().str();
}
void* Tensor::raw_data() const {
  TensorImpl& t = need(impl_);
  return static_cast<char*>(t.storage->data) + t.offset * dtype_size(t.dtype);
}

std::vector<float> Tensor::to_vector() const {
  Tensor c = to(Device::CPU);
  std::vector<float> out(numel());
  if (dtype() == DType::F32) {
    std::memcpy(out.data(), c.raw_data(), out.size() * 4);
  } else {
    const double* p = c.data<double>();
    for (size_t i = 0; i < out.size(); ++i) out[i] = (float)p[i];
  }
  return out;
}
std::vector<double> Tensor::to_vector_f64() const {
  Tensor c = to(Device::CPU);
  std::vector<double> out(numel());
  if (dtype() == DType::F64) {
    std::memcpy(out.data(), c.raw_data(), out.size() * 8);
  } else {
    const float* p = c.data<float>();
    for (size_t i = 0; i < out.size(); ++i) out[i] = p[i];
  }
  return out;
}
double Tensor::item() const {
  SFM_CHECK(numel() == 1, "item() on a tensor with shape ", shape().str());
  return to_vector_f64()[0];
}

Tensor Tensor::to(Device dev) const {
  if (device() == dev) return *this;
  Tensor r = empty(shape(), dtype(), dev);
  copy_bytes(r.raw_data(), dev, raw_data(), device(), nbytes());
  return r;
}
Tensor Tensor::to(DType t) const {
  if (dtype() == t) return *this;
  SFM_CHECK(device() == Device::CPU, "dtype conversion of a ", desc(), ": only on the CPU");
  Tensor r = empty(shape(), t, Device::CPU);
  int64_t n = numel();
  if (t == DType::F64) {
    const float* s = data<float>();
    double* d = r.data<double>();
    for (int64_t i = 0; i < n; ++i) d[i] = s[i];
  } else {
    const double* s = data<double>();
    float* d = r.data<float>();
    for (int64_t i = 0; i < n; ++i) d[i] = (float)s[i];
  }
  return r;
}
Tensor Tensor::clone() const {
  Tensor r = empty(shape(), dtype(), device());
  copy_bytes(r.raw_data(), device(), raw_data(), device(), nbytes());
  return r;
}
Tensor Tensor::detach() const {
  auto impl = std::make_shared<TensorImpl>();
  const TensorImpl& t = need(impl_);
  impl->storage = t.storage;
  impl->offset = t.offset;
  impl->shape = t.shape;
  impl->dtype = t.dtype;
  impl->device = t.device;
  return Tensor(impl);
}
Tensor Tensor::view(const Shape& s) const {
  SFM_CHECK(s.numel() == numel(), "view: cannot view ", shape().str(), " as ", s.str());
  Tensor r = detach();
  r.impl_->shape = s;
  return r;
}
Tensor Tensor::batch_slice(int64_t b0, int64_t b1) const {
  SFM_CHECK(ndim() >= 1 && 0 <= b0 && b0 <= b1 && b1 <= dim(0), "batch_slice(", b0, ", ", b1, ") of ", shape().str());
  Tensor r = detach();
  int64_t per = dim(0) ? numel() / dim(0) : 0;
  r.impl_->offset += b0 * per;
  r.impl_->shape[0] = b1 - b0;
  return r;
}

void Tensor::fill_(double value) {
  int64_t n = numel();
  if (device() == Device::CUDA) {
    cuda_fill_f32(data<float>(), n, (float)value);
  } else if (dtype() == DType::F32) {
    float* p = data<float>();
    for (int64_t i = 0; i < n; ++i) p[i] = (float)value;
  } else {
    double* p = data<double>();
    for (int64_t i = 0; i < n; ++i) p[i] = value;
  }
}
void Tensor::copy_(const Tensor& src) {
  SFM_CHECK(src.shape() == shape(), "copy_: source ", src.desc(), " into ", desc());
  if (src.dtype() == dtype()) {
    copy_bytes(raw_data(), device(), src.raw_data(), src.device(), nbytes());
  } else {
    Tensor c = src.to(Device::CPU).to(dtype());
    copy_bytes(raw_data(), device(), c.raw_data(), Device::CPU, nbytes());
  }
}

bool Tensor::requires_grad() const { return need(impl_).requires_grad; }
Tensor& Tensor::set_requires_grad(bool r) {
  need(impl_).requires_grad = r;
  return *this;
}
Tensor Tensor::grad() const { return need(impl_).grad; }
void Tensor::set_grad(const Tensor& g) { need(impl_).grad = g; }
void Tensor::zero_grad() { need(impl_).grad = Tensor(); }
const std::shared_ptr<Node>& Tensor::grad_fn() const { return need(impl_).grad_fn; }
void Tensor::set_grad_fn(std::shared_ptr<Node> fn) { need(impl_).grad_fn = std::move(fn); }
void Tensor::backward(const Tensor& grad_output) const { sfm::backward(*this, grad_output); }
const std::string& Tensor::name() const { return need(impl_).name; }
Tensor& Tensor::set_name(std::string n) {
  need(impl_).name = std::move(n);
  return *this;
}

}  // namespace sfm
