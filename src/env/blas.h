// Which BLAS library a program linked against libblas.so.3 gets on this machine.
//
// Debian's PyTorch and libtorch link the generic libblas.so.3, which the alternatives system points
// at netlib's reference BLAS (slow: ~9x slower matmuls) unless an optimized one such as OpenBLAS is
// installed. This is found from the file system alone, without starting Python or loading torch.
// All functions are safe to call from any thread.
#pragma once

#include <string>

namespace trainyard::env {

struct BlasInfo {
  // "openblas", "blis", "mkl", "atlas", "reference" (netlib), "unknown" (a library we do not
  // recognise), or "none" (no libblas.so.3 found).
  std::string kind;
  std::string path;   // the resolved library file ("" when kind is "none")
  bool slow = false;  // true for the reference BLAS
};

// Classifies a BLAS library by its resolved path: "openblas-pthread/libblas.so.3" is OpenBLAS,
// "blas/libblas.so.3" is netlib's reference BLAS, and so on. Never fails; unrecognised paths give
// kind "unknown".
BlasInfo ClassifyBlasLibrary(const std::string& resolved_path);

// Resolves libblas.so.3 through `alternatives_dir` (normally /etc/alternatives, whose entry is
// "libblas.so.3-<multiarch>", e.g. libblas.so.3-x86_64-linux-gnu) and classifies the target. When
// there is no alternative, falls back to /usr/lib/<multiarch>/libblas.so.3 and then
// /usr/lib/libblas.so.3. Never fails: kind "none" when nothing is found.
BlasInfo DetectBlas(const std::string& alternatives_dir = "/etc/alternatives");

// "openblas (/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3)", "reference (netlib,
// /usr/lib/x86_64-linux-gnu/blas/libblas.so.3)", or "none (no libblas.so.3 found)".
std::string DescribeBlas(const BlasInfo& blas);

}  // namespace trainyard::env
