// `info MODEL`: architecture, layout, sizes, parameter count, dtypes, tokenizer, memory needed.
// Torch-free work only (open_checkpoint maps, never loads), so it is instant even for 7B models.
#include <cmath>
#include <cstdio>
#include <map>

#include <nlohmann/json.hpp>

#include "core/cli/commands.h"
#include "core/cli/common.h"
#include "core/model/quant_point.h"

namespace ms::cli {
namespace {

std::string human_bytes(double b) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB"};
  int u = 0;
  while (b >= 1000 && u < 4) { b /= 1000; ++u; }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", b, units[u]);
  return buf;
}

std::string human_count(double n) {
  char buf[32];
  if (n >= 1e9) std::snprintf(buf, sizeof buf, "%.2f B", n / 1e9);
  else if (n >= 1e6) std::snprintf(buf, sizeof buf, "%.1f M", n / 1e6);
  else std::snprintf(buf, sizeof buf, "%.0f", n);
  return buf;
}

// Peak resident memory to run a forward of one sequence of `ctx` tokens on the CPU: the process
// with LibTorch loaded (~120 MB), the weights in the compute dtype, the logits, the largest
// layer's transient activations (fp32 scan inputs), and the mapped pages of the one tensor being
// copied (the engine drops each tensor's mapped pages once it has its copy: core/io/mapped_file.h).
// Checked against /usr/bin/time's maximum RSS (issue 9; README "Memory"): mamba-2.8b fp32 on the
// 2-core CI machine, 8 tokens: see the README for the measured figure next to this estimate.
double memory_needed(const ModelConfig& c, int64_t ctx, double bytes_per_weight, double largest_tensor) {
  constexpr double kRuntime = 120e6;
  double weights = static_cast<double>(c.parameter_count()) * bytes_per_weight;
  double logits = static_cast<double>(ctx) * c.padded_vocab * 4.0 * 2;  // logits + log-softmax
  double layer = static_cast<double>(ctx) * (c.in_proj_rows + 6.0 * c.d_inner) * 4.0;
  return kRuntime + largest_tensor + weights + logits + layer;
}

}  // namespace

Runner register_info(CLI::App& app) {
  auto* cmd = app.add_subcommand("info", "Architecture, layout, sizes, parameters, dtypes, "
                                         "tokenizer and the memory a model needs");
  struct Args {
    std::string model;
    CommonOptions o;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("MODEL", a->model, "Model directory, config.json or .safetensors")->required();
  add_tokenizer_options(cmd, a->o);
  add_json_option(cmd, a->o);
  return [a] {
    const CommonOptions& o = a->o;
    Checkpoint ck = open_checkpoint(a->model);
    const ModelConfig& c = ck.config;
    std::map<std::string, int64_t> dtypes;
    std::map<const std::byte*, size_t> storages;  // a tied lm_head shares the embedding's bytes
    for (const auto& [key, v] : ck.tensors.tensors()) {
      dtypes[std::string(dtype_name(v.dtype))] += 1;
      storages[v.data] = std::max(storages[v.data], v.nbytes);
    }
    size_t weight_bytes = 0, largest = 0;
    for (const auto& [ptr, n] : storages) {
      weight_bytes += n;
      largest = std::max(largest, n);
    }
    std::string dtype_list;
    for (const auto& [d, n] : dtypes) dtype_list += (dtype_list.empty() ? "" : ", ") + d + " (" + std::to_string(n) + ")";
    std::string tok_desc = "none (pass --tokenizer FILE)";
    int64_t tok_vocab = 0;
    if (!o.tokenizer.empty() || ck.tokenizer_file) {
      Tokenizer tok = load_tokenizer(ck, o);
      tok_vocab = static_cast<int64_t>(tok.vocab_size());
      tok_desc = tok.source() + " (" + std::to_string(tok_vocab) + " tokens)";
    }
    const bool m2 = c.is_mamba2();
    const double mem_fp32 = memory_needed(c, 2048, 4, double(largest));
    const double mem_bf16 = memory_needed(c, 2048, 2, double(largest));
    const size_t points = quant_points(c).size();
    std::string gated = !m2 ? "-" : c.n_groups == 1 ? "over all E (G = 1)"
                                                   : "per group of E/G channels (default; "
                                                     "--gated-norm full for HF's variant)";
    if (o.json) {
      nlohmann::json j;
      j["model"] = ck.dir.string();
      j["architecture"] = std::string(arch_name(c.arch));
      j["layout"] = std::string(layout_name(c.layout));
      j["weight_files"] = nlohmann::json::array();
      for (const auto& f : ck.weight_files) j["weight_files"].push_back(f.string());
      j["n_layer"] = c.n_layer;
      j["d_model"] = c.d_model;
      j["d_inner"] = c.d_inner;
      j["d_state"] = c.d_state;
      j["d_conv"] = c.d_conv;
      if (m2) {
        j["n_heads"] = c.n_heads;
        j["head_dim"] = c.head_dim;
        j["n_groups"] = c.n_groups;
        j["gated_norm"] = c.n_groups == 1 ? "full" : "group";
      } else {
        j["dt_rank"] = c.dt_rank;
      }
      j["vocab_size"] = c.vocab_size;
      j["padded_vocab"] = c.padded_vocab;
      j["tie_embeddings"] = c.tie_embeddings;
      j["parameters"] = c.parameter_count();
      j["weights_bytes"] = weight_bytes;
      j["dtypes"] = dtypes;
      j["tokenizer"] = tok_vocab ? nlohmann::json(tok_desc) : nlohmann::json(nullptr);
      j["memory_bytes"] = {{"fp32", mem_fp32}, {"bf16", mem_bf16}, {"ctx", 2048}};
      j["quant_points"] = points;
      j["notes"] = ck.notes;
      std::printf("%s\n", j.dump(2).c_str());
      return 0;
    }
    std::printf("model         %s\n", ck.dir.string().c_str());
    std::printf("layout        %s (%s)\n", std::string(layout_name(c.layout)).c_str(),
                ck.weight_files.front().filename().string().c_str());
    std::printf("architecture  %s\n", std::string(arch_name(c.arch)).c_str());
    std::printf("layers        %lld\n", static_cast<long long>(c.n_layer));
    std::printf("d_model       %lld\nd_inner       %lld\nd_state       %lld\nd_conv        %lld\n",
                (long long)c.d_model, (long long)c.d_inner, (long long)c.d_state, (long long)c.d_conv);
    if (m2)
      std::printf("heads         %lld x head_dim %lld, %lld group(s)\ngated norm    %s\n",
                  (long long)c.n_heads, (long long)c.head_dim, (long long)c.n_groups, gated.c_str());
    else
      std::printf("dt_rank       %lld\n", (long long)c.dt_rank);
    std::printf("vocab         %lld embedding rows", (long long)c.padded_vocab);
    if (c.padded_vocab != c.vocab_size)
      std::printf(" (config %lld, padded to a multiple of %lld)", (long long)c.vocab_size,
                  (long long)c.pad_vocab_size_multiple);
    std::printf("%s\n", c.tie_embeddings ? ", lm_head tied" : ", lm_head untied");
    std::printf("parameters    %s (%lld)\n", human_count(double(c.parameter_count())).c_str(),
                (long long)c.parameter_count());
    std::printf("weights       %s on disk, dtypes %s\n",
                human_bytes(double(weight_bytes)).c_str(), dtype_list.c_str());
    std::printf("tokenizer     %s\n", tok_desc.c_str());
    std::printf("memory        ~%s in fp32, ~%s in bf16 (peak on the CPU, one sequence of 2048 "
                "tokens)\n",
                human_bytes(mem_fp32).c_str(), human_bytes(mem_bf16).c_str());
    std::printf("quant points  %zu (layers.{i}.{module}.{site})\n", points);
    for (const std::string& n : ck.notes) std::printf("note          %s\n", n.c_str());
    return 0;
  };
}

}  // namespace ms::cli
