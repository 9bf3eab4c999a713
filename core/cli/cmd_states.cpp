// `states MODEL [--text S | --file F] --layer N [--max-tokens 64] [--hbits 4] [--state-method M]
// [--dsq-variant V] --out F.safetensors`: one layer's SSM state after every token of one sequence
// (from a zero state), float and with the state quantized inside the recurrence, and the
// quantizer's scales per token (core/engine/state_sequence.h). The app's state heatmap plays this
// file in its sequence mode.
//
// File: float_states, quant_states [T, R, N]; channel_scales [T, R]; state_scales [T, G, N];
// token_ids int32 [T] (R = E, G = 1 for Mamba-1; R = H·P, G = H for Mamba-2). Metadata: format
// "mambascope.states/1", model, arch, layer, hbits, state_method, dsq_variant, heads, and
// "pieces": a JSON array of each token's decoded text.
#include <cstdio>
#include <map>
#include <string>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "core/cli/commands.h"
#include "core/cli/common.h"
#include "core/engine/state_sequence.h"
#include "core/io/safetensors.h"
#include "core/util/error.h"

namespace ms::cli {
namespace {

TensorToWrite f32(const std::string& name, const at::Tensor& t) {
  return TensorToWrite{name, DType::F32, t.sizes().vec(), t.data_ptr<float>(), static_cast<size_t>(t.nbytes())};
}

}  // namespace

Runner register_states(CLI::App& app) {
  auto* cmd = app.add_subcommand("states", "One layer's SSM state token by token, float and quantized, "
                                           "with the state quantizer's scales per token (safetensors)");
  cmd->footer("\nExample:\n  mambascope-cli states resources/models/demo-mamba --file resources/texts/austen.txt "
              "--layer 5 --max-tokens 64 --hbits 4 --state-method dsq --out /tmp/states.safetensors\n");
  struct Args {
    std::string model, text, file, out, method = "dsq", variant = "abs.mean.sqrt";
    int64_t layer = 0, max_tokens = 64;
    int hbits = 4;
    CommonOptions o;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("MODEL", a->model, "Model directory")->required();
  auto* text = cmd->add_option("--text", a->text, "Text to tokenize");
  auto* file = cmd->add_option("--file", a->file, "UTF-8 text file, used byte for byte (default: the shipped Austen text)");
  text->excludes(file);
  cmd->add_option("--layer", a->layer, "Layer whose state is recorded (0-based)")->required();
  cmd->add_option("--max-tokens", a->max_tokens, "Tokens from the start of the text (keeps the file small)")
      ->capture_default_str()->check(CLI::Range(int64_t{1}, int64_t{4096}));
  cmd->add_option("--hbits", a->hbits, "State bits of the quantized run (2..15, or 16 = float)")->capture_default_str();
  cmd->add_option("--state-method", a->method, "State quantizer: dsq | tensor | channel | state")->capture_default_str();
  cmd->add_option("--dsq-variant", a->variant, "dsq: abs.max|abs.max.sqrt|abs.mean|abs.mean.sqrt")->capture_default_str();
  cmd->add_option("--out", a->out, "Output .safetensors file (written atomically)")->required();
  add_engine_options(cmd, a->o);
  add_tokenizer_options(cmd, a->o);
  return [a, text] {
    std::string path = a->file;
    if (!*text && path.empty()) {  // the app's sequence mode plays the calibration text's start
      const auto shipped = shipped_calibration_text();
      if (!shipped) throw UsageError("states needs --text or --file (no shipped calibration text was found)");
      path = shipped->string();
    }
    StateQuantSpec spec;
    spec.bits = a->hbits;
    spec.method = parse_state_method(a->method);
    spec.variant = parse_dsq_variant(a->variant);
    spec.validate();
    LoadedModel m = load_model(a->model, a->o);
    const int64_t layers = m.checkpoint.config.n_layer;
    if (a->layer < 0 || a->layer >= layers)
      throw UsageError("--layer: " + a->model + " has " + std::to_string(layers) + " layers (0.." +
                       std::to_string(layers - 1) + "), not " + std::to_string(a->layer));
    Tokenizer tok = load_tokenizer(m.checkpoint, a->o);
    std::vector<int32_t> ids = encode(tok, *text ? a->text : read_text_file(path), a->o);
    if (ids.empty()) throw InputError(*text ? "--text" : path, "the text has no tokens");
    if (static_cast<int64_t>(ids.size()) > a->max_tokens) ids.resize(static_cast<size_t>(a->max_tokens));
    const at::Tensor in = at::tensor(std::vector<int64_t>(ids.begin(), ids.end())).unsqueeze(0);
    const StateSequence s = state_sequence(*m.model, in, a->layer, spec);

    nlohmann::json pieces = nlohmann::json::array();
    for (int32_t id : ids) pieces.push_back(tok.decode(std::span<const int32_t>(&id, 1)));
    const std::map<std::string, std::string> meta{
        {"format", "mambascope.states/1"},
        {"model", a->model},
        {"arch", std::string(arch_name(m.checkpoint.config.arch))},
        {"layer", std::to_string(a->layer)},
        {"hbits", std::to_string(spec.bits)},
        {"state_method", state_method_name(spec.method)},
        {"dsq_variant", dsq_variant_name(spec.variant)},
        {"heads", std::to_string(s.heads)},
        {"pieces", pieces.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)}};
    write_safetensors(a->out,
                      {f32("float_states", s.float_states), f32("quant_states", s.quant_states),
                       f32("channel_scales", s.channel_scales), f32("state_scales", s.state_scales),
                       TensorToWrite{"token_ids", DType::I32, {static_cast<int64_t>(ids.size())}, ids.data(),
                                     ids.size() * sizeof(int32_t)}},
                      meta);
    const at::Tensor diff = (s.quant_states - s.float_states).abs();
    std::printf("%s: layers.%lld.ssm.state, %lld tokens, [%lld x %lld] per token, %s; max |quantized - float| %.6g\n",
                a->out.c_str(), (long long)a->layer, (long long)ids.size(), (long long)s.float_states.size(1),
                (long long)s.float_states.size(2), spec.describe().c_str(), diff.max().item<double>());
    return 0;
  };
}

}  // namespace ms::cli
