// Fused FFT convolution for H3 (FlashConv, Fu, Dao et al., ICLR 2023, Section 4).
//
// One thread block per (batch, channel) row does, entirely in shared memory:
//   x = u * v (optional input gate: H3's k (.) v), zero padded to n >= 2L
//   X = FFT_n(x)                                  (iterative radix-2, bit-reversed load)
//   Y = X * Kf[h]                                 (Kf = FFT_n of the SSM kernel, computed by torch)
//   y = IFFT_n(Y)[:L] + D[h] * x                  (crop to the first L outputs = causal)
//   y = y * q (optional output gate)
// so u, v, q are read once and y written once. Written for this package (not taken from the
// official csrc/fftconv, which is cuFFTDx based). The torch binding is left out when the file is
// compiled with -DH3_FLASHCONV_KERNEL_ONLY (the source-builds test).

#include <cuda_runtime.h>
#include <math_constants.h>

namespace h3fc {

__device__ __forceinline__ unsigned int bit_reverse(unsigned int i, int log2n) {
  return __brev(i) >> (32 - log2n);
}

// In-place radix-2 decimation-in-time FFT of buf[0..n) (already in bit-reversed order).
// sign = -1: forward, +1: inverse (unnormalised).
__device__ void fft_inplace(float2* buf, int n, int log2n, float sign) {
  for (int s = 1; s <= log2n; ++s) {
    const int half = 1 << (s - 1);
    for (int t = threadIdx.x; t < n / 2; t += blockDim.x) {
      const int j = t & (half - 1);            // position inside the butterfly group
      const int base = ((t >> (s - 1)) << s);  // start of the group
      float sn, cs;
      sincospif(sign * (float)j / (float)half, &sn, &cs);  // exp(sign * i * pi * j / half)
      const float2 a = buf[base + j];
      const float2 b = buf[base + j + half];
      const float2 wb = make_float2(cs * b.x - sn * b.y, cs * b.y + sn * b.x);
      buf[base + j] = make_float2(a.x + wb.x, a.y + wb.y);
      buf[base + j + half] = make_float2(a.x - wb.x, a.y - wb.y);
    }
    __syncthreads();
  }
}

__global__ void fftconv_fwd_kernel(const float* __restrict__ u, const float2* __restrict__ kf,
                                   const float* __restrict__ D, const float* __restrict__ v,
                                   const float* __restrict__ q, float* __restrict__ y,
                                   int H, int L, int n, int log2n) {
  extern __shared__ float2 buf[];
  const long row = blockIdx.x;           // b * H + h
  const int h = (int)(row % H);
  const float* urow = u + row * L;
  const float* vrow = v ? v + row * L : nullptr;
  const float* qrow = q ? q + row * L : nullptr;

  // load (gated) input into bit-reversed positions, zero padding past L
  for (int i = threadIdx.x; i < n; i += blockDim.x) {
    float x = 0.f;
    if (i < L) x = vrow ? urow[i] * vrow[i] : urow[i];
    buf[bit_reverse(i, log2n)] = make_float2(x, 0.f);
  }
  __syncthreads();
  fft_inplace(buf, n, log2n, -1.f);

  // pointwise product with the kernel spectrum, then bit-reverse again for the inverse transform
  const float2* krow = kf + (long)h * n;
  for (int i = threadIdx.x; i < n; i += blockDim.x) {
    const float2 a = buf[i];
    const float2 b = krow[i];
    buf[i] = make_float2(a.x * b.x - a.y * b.y, a.x * b.y + a.y * b.x);
  }
  __syncthreads();
  for (int i = threadIdx.x; i < n; i += blockDim.x) {
    const unsigned int j = bit_reverse(i, log2n);
    if (i < (int)j) {
      const float2 t = buf[i];
      buf[i] = buf[j];
      buf[j] = t;
    }
  }
  __syncthreads();
  fft_inplace(buf, n, log2n, 1.f);

  const float inv_n = 1.f / (float)n;
  const float d = D[h];
  for (int i = threadIdx.x; i < L; i += blockDim.x) {
    const float x = vrow ? urow[i] * vrow[i] : urow[i];
    float out = buf[i].x * inv_n + d * x;
    if (qrow) out *= qrow[i];
    y[row * L + i] = out;
  }
}

// Host launcher usable without torch: all pointers are device pointers, v and q may be null.
inline cudaError_t launch_fftconv_fwd(const float* u, const float2* kf, const float* D, const float* v,
                                      const float* q, float* y, long rows, int H, int L, int n,
                                      cudaStream_t stream) {
  int log2n = 0;
  while ((1 << log2n) < n) ++log2n;
  const size_t smem = sizeof(float2) * (size_t)n;
  cudaError_t err = cudaFuncSetAttribute(fftconv_fwd_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem);
  if (err != cudaSuccess) return err;
  const int threads = n / 2 < 1024 ? n / 2 : 1024;
  fftconv_fwd_kernel<<<(unsigned int)rows, threads, smem, stream>>>(u, kf, D, v, q, y, H, L, n, log2n);
  return cudaGetLastError();
}

}  // namespace h3fc

#ifndef H3_FLASHCONV_KERNEL_ONLY
#include <torch/extension.h>

#include <cstdint>
#include <optional>

// The caller passes torch's current stream (torch.cuda.current_stream().cuda_stream): the binding then needs
// no c10/cuda header and compiles against any torch build's headers, CPU wheels included.

torch::Tensor fftconv_fwd(torch::Tensor u, torch::Tensor kf, torch::Tensor D, std::optional<torch::Tensor> v,
                          std::optional<torch::Tensor> q, int64_t n, int64_t stream_ptr) {
  TORCH_CHECK(u.is_cuda() && u.dim() == 3 && u.scalar_type() == torch::kFloat32 && u.is_contiguous(),
              "u must be a contiguous float32 CUDA tensor (B, H, L)");
  const int64_t B = u.size(0), H = u.size(1), L = u.size(2);
  TORCH_CHECK(n >= 16 && n <= 16384 && (n & (n - 1)) == 0, "fft size must be a power of 2 in [16, 16384], got ", n);
  TORCH_CHECK(n >= 2 * L, "fft size ", n, " must be >= 2L = ", 2 * L);
  TORCH_CHECK(kf.is_cuda() && kf.dim() == 3 && kf.size(0) == H && kf.size(1) == n && kf.size(2) == 2 &&
                  kf.scalar_type() == torch::kFloat32 && kf.is_contiguous(),
              "kernel spectrum must be a contiguous float32 CUDA tensor (H, n, 2)");
  TORCH_CHECK(D.is_cuda() && D.numel() == H && D.scalar_type() == torch::kFloat32, "D must be float32 (H,)");
  const float* vp = nullptr;
  const float* qp = nullptr;
  if (v.has_value()) {
    TORCH_CHECK(v->sizes() == u.sizes() && v->is_contiguous() && v->scalar_type() == torch::kFloat32, "v must match u");
    vp = v->data_ptr<float>();
  }
  if (q.has_value()) {
    TORCH_CHECK(q->sizes() == u.sizes() && q->is_contiguous() && q->scalar_type() == torch::kFloat32, "q must match u");
    qp = q->data_ptr<float>();
  }
  auto y = torch::empty_like(u);
  auto stream = reinterpret_cast<cudaStream_t>(static_cast<intptr_t>(stream_ptr));
  cudaError_t err = h3fc::launch_fftconv_fwd(u.data_ptr<float>(), reinterpret_cast<const float2*>(kf.data_ptr<float>()),
                                             D.data_ptr<float>(), vp, qp, y.data_ptr<float>(), B * H, (int)H, (int)L,
                                             (int)n, stream);
  TORCH_CHECK(err == cudaSuccess, "fftconv kernel launch failed: ", cudaGetErrorString(err));
  return y;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("fftconv_fwd", &fftconv_fwd, "Fused FFT conv forward: q * (IFFT(FFT(u v) Kf)[:L] + D u v)",
        py::arg("u"), py::arg("kf"), py::arg("D"), py::arg("v") = py::none(), py::arg("q") = py::none(),
        py::arg("n"), py::arg("stream") = 0);
}
#endif
