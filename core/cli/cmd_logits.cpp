// `logits MODEL (--ids 1,2,3 | --text S | --file F) --out F.npy`: one sequence from a zero state;
// float32 [T, V] with V the embedding's rows.
#include <cstdio>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "core/cli/commands.h"
#include "core/cli/common.h"
#include "core/io/npy.h"
#include "core/util/error.h"

namespace ms::cli {

Runner register_logits(CLI::App& app) {
  auto* cmd = app.add_subcommand("logits", "Logits of one sequence from a zero state, as .npy "
                                           "float32 [T, V]");
  struct Args {
    std::string model, ids, text, file, out;
    CommonOptions o;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("MODEL", a->model, "Model directory")->required();
  auto* ids = cmd->add_option("--ids", a->ids, "Token ids, comma separated: 1,2,3");
  auto* text = cmd->add_option("--text", a->text, "Text to tokenize");
  auto* file = cmd->add_option("--file", a->file, "UTF-8 text file, used byte for byte");
  ids->excludes(text)->excludes(file);
  text->excludes(file);
  cmd->add_option("--out", a->out, "Output .npy file (written atomically)")->required();
  add_engine_options(cmd, a->o);
  add_tokenizer_options(cmd, a->o);
  return [a, ids, text, file] {
    if (!*ids && !*text && !*file) throw UsageError("logits needs --ids, --text or --file");
    std::vector<int32_t> tokens = *ids ? parse_ids(a->ids) : std::vector<int32_t>{};
    LoadedModel m = load_model(a->model, a->o);
    if (!*ids) {
      Tokenizer tok = load_tokenizer(m.checkpoint, a->o);
      tokens = encode(tok, *file ? read_text_file(a->file) : a->text, a->o);
    }
    if (tokens.empty()) throw InputError(*file ? a->file : "--text", "the text has no tokens");
    const int64_t V = m.checkpoint.config.padded_vocab;
    for (int32_t t : tokens)
      if (t >= V)
        throw InputError(*ids ? "--ids" : a->model, "token id " + std::to_string(t) +
                                                        " is outside the vocabulary (0.." +
                                                        std::to_string(V - 1) + ")");
    at::Tensor in = at::tensor(std::vector<int64_t>(tokens.begin(), tokens.end())).unsqueeze(0);
    at::Tensor logits = m.model->forward(in).squeeze(0).to(at::kCPU).contiguous();  // [T, V]
    write_npy_f32(a->out, logits.data_ptr<float>(), {logits.size(0), logits.size(1)});
    if (a->o.json)
      std::printf("%s\n", nlohmann::json{{"out", a->out},
                                         {"shape", {logits.size(0), logits.size(1)}}}.dump().c_str());
    return 0;
  };
}

}  // namespace ms::cli
