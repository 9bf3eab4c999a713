// Outlier channels (Mamba-PTQ; METHODS.md section 2) and the zeroing experiment.
//
// Detection: a channel of an activation point whose absmax lies more than 6 standard deviations
// above the mean of that layer's channel absmaxes (one-sided, population std) — the same rule the
// channel-maxima view draws (core/model/stats_file.h, summarise_channel_maxima, used here).
// Zeroing: the paper zeroes outlier channels at the four Linear inputs. A Linear sees X_j = 0
// exactly when its weight column j is 0 (X Wᵀ = Σ_j X_j W_:jᵀ), so zeroing is folded into the
// consumer's columns: in_proj, x_proj, dt_proj, out_proj (Mamba-2: in_proj, out_proj). For
// x_proj's input this silences the channel for x_proj only; the scan still reads x — the
// Linear-input reading of the experiment. The control zeroes as many channels drawn at random
// (seeded, never an outlier) at the same points.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/engine/calib_stats.h"
#include "core/engine/weight_set.h"

namespace ms {

// Outlier channel indices of one point's absmax [C] (ascending).
std::vector<int64_t> outlier_channels(const at::Tensor& absmax);

// Zeroes the consumer columns of `point` (`layers.3.out_proj.input`) for the given channels.
void zero_input_channels(WeightSet& w, const std::string& point, const std::vector<int64_t>& channels);

// point -> channels, for every Linear input point of the architecture.
using ChannelPlan = std::map<std::string, std::vector<int64_t>>;
struct ZeroingPlan {
  ChannelPlan outliers;  // by the 6σ rule
  ChannelPlan random;    // as many per point, uniformly among the non-outliers (seeded)
  int64_t count() const;  // channels in `outliers` (= in `random`)
};
ZeroingPlan plan_zeroing(const ModelConfig& config, const CalibStats& stats, uint64_t seed);
void apply_zeroing(WeightSet& w, const ChannelPlan& plan);

}  // namespace ms
