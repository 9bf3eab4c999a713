// Test helper: writes hand-made statistics files in the layout of `mambascope-cli calibrate`
// (CLI-CONTRACT.md "Statistics file"), with absmax values the test chooses, so the reader, the
// outlier rule and the app's checks are tested on known numbers without LibTorch.
#pragma once

#include <cmath>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/io/safetensors.h"
#include "core/model/quant_point.h"

namespace ms::test {

// absmax(layer, module, channel)
using AbsmaxFn = std::function<float(int, Module, int64_t)>;

inline void write_stats_file(const std::string& path, int n_layers, const std::map<Module, int64_t>& widths,
                             const AbsmaxFn& absmax,
                             std::map<std::string, std::string> metadata = {{"format", "mambascope-calib-stats/1"},
                                                                            {"tokens", "1234"}}) {
  std::vector<std::vector<float>> storage;
  std::vector<std::vector<int64_t>> counts;
  std::vector<TensorToWrite> out;
  storage.reserve(static_cast<std::size_t>(n_layers) * widths.size());
  counts.reserve(storage.capacity());
  for (int l = 0; l < n_layers; ++l)
    for (const auto& [module, width] : widths) {
      const std::string name = QuantPoint{l, module, Site::Input}.str();
      storage.emplace_back();
      for (int64_t c = 0; c < width; ++c) storage.back().push_back(absmax(l, module, c));
      counts.emplace_back(static_cast<std::size_t>(width), 1234);
      out.push_back({name + ".absmax", DType::F32, {width}, storage.back().data(), storage.back().size() * 4});
      out.push_back({name + ".count", DType::I64, {width}, counts.back().data(), counts.back().size() * 8});
    }
  write_safetensors(path, out, metadata);
}

// Widths of tests/app/tiny_model.h's Mamba-1 (d=16, E=32, R=2).
inline std::map<Module, int64_t> tiny_mamba1_widths() {
  return {{Module::InProj, 16}, {Module::XProj, 32}, {Module::DtProj, 2}, {Module::OutProj, 32}};
}

// A plausible file for the tiny Mamba-1: smooth values with one tall channel per point.
inline void write_tiny_mamba1_stats(const std::string& path, int n_layers = 3) {
  write_stats_file(path, n_layers, tiny_mamba1_widths(), [](int l, Module m, int64_t c) {
    return (c == 5 + l ? 8.0f : 1.0f + 0.05f * static_cast<float>((c * 7 + static_cast<int>(m)) % 11));
  });
}

// Builds a statistics file tensor by tensor (state maps, histograms, sums: whatever a test needs),
// keeping every buffer alive until write().
class StatsWriter {
 public:
  void f32(const std::string& name, std::vector<int64_t> shape, std::vector<float> values) {
    m_f32.push_back(std::move(values));
    m_out.push_back({name, DType::F32, std::move(shape), m_f32.back().data(), m_f32.back().size() * 4});
  }
  void f64(const std::string& name, std::vector<int64_t> shape, std::vector<double> values) {
    m_f64.push_back(std::move(values));
    m_out.push_back({name, DType::F64, std::move(shape), m_f64.back().data(), m_f64.back().size() * 8});
  }
  void i64(const std::string& name, std::vector<int64_t> shape, std::vector<int64_t> values) {
    m_i64.push_back(std::move(values));
    m_out.push_back({name, DType::I64, std::move(shape), m_i64.back().data(), m_i64.back().size() * 8});
  }
  void write(const std::string& path, std::map<std::string, std::string> metadata = {
                                          {"format", "mambascope-calib-stats/1"}, {"tokens", "1234"}}) {
    write_safetensors(path, m_out, metadata);
  }

 private:
  std::deque<std::vector<float>> m_f32;   // deque: pointers into earlier buffers stay valid
  std::deque<std::vector<double>> m_f64;
  std::deque<std::vector<int64_t>> m_i64;
  std::vector<TensorToWrite> m_out;
};

// The CLI's |x| histogram edges (core/engine/calib_stats.cpp): 0, then 10^-8 .. 10^6 at 16 a decade.
inline std::vector<double> cli_hist_edges() {
  std::vector<double> e{0.0};
  for (int i = 0; i < 1 + 14 * 16; ++i) e.push_back(std::pow(10.0, -8.0 + i / 16.0));
  return e;
}

}  // namespace ms::test
