// `init-random --preset NAME --out DIR [--seed N] [--layout hf|state-spaces] [--dtype ...]`:
// a random-init checkpoint with a released model's exact shapes. The directory appears whole or
// not at all: it is written beside its final name, then renamed.
#include <cstdio>
#include <filesystem>

#include "core/cli/commands.h"
#include "core/cli/common.h"
#include "core/engine/random_init.h"
#include "core/io/atomic_dir.h"
#include "core/util/error.h"

namespace ms::cli {
namespace fs = std::filesystem;

Runner register_init_random(CLI::App& app) {
  auto* cmd = app.add_subcommand("init-random", "Write a random-init checkpoint with a preset's "
                                                "exact shapes");
  struct Args {
    std::string preset, out, layout = "hf", dtype = "fp32";
    uint64_t seed = 0;
    bool list = false;
  };
  auto a = std::make_shared<Args>();
  std::string names;
  for (const Preset& p : presets()) names += (names.empty() ? "" : ", ") + p.name;
  cmd->add_option("--preset", a->preset, "One of: " + names);
  cmd->add_option("--out", a->out, "Model directory to create (must not exist)");
  cmd->add_option("--seed", a->seed, "Random seed")->capture_default_str();
  cmd->add_option("--layout", a->layout, "hf (config.json + model.safetensors) or state-spaces "
                                         "(config.json + pytorch_model.bin)")
      ->check(CLI::IsMember({"hf", "state-spaces"}))->capture_default_str();
  cmd->add_option("--dtype", a->dtype, "Stored dtype: fp32, fp16 or bf16")
      ->check(CLI::IsMember({"fp32", "fp16", "bf16"}))->capture_default_str();
  cmd->add_flag("--list", a->list, "List the presets and their shapes");
  return [a] {
    if (a->list) {
      for (const Preset& p : presets())
        std::printf("%-20s %-12s d_model %-5lld layers %-3lld d_state %-4lld vocab %lld, %.2f B params\n",
                    p.name.c_str(), std::string(arch_name(p.config.arch)).c_str(),
                    (long long)p.config.d_model, (long long)p.config.n_layer,
                    (long long)p.config.d_state, (long long)p.config.padded_vocab,
                    p.config.parameter_count() / 1e9);
      return 0;
    }
    if (a->preset.empty() || a->out.empty()) throw UsageError("init-random needs --preset and --out");
    const Preset& preset = find_preset(a->preset);
    const fs::path out = prepare_output_directory(a->out);
    at::ScalarType dtype = a->dtype == "fp32" ? at::kFloat : a->dtype == "fp16" ? at::kHalf
                                                                                : at::kBFloat16;
    write_directory_atomically(out, [&](const fs::path& tmp) {
      RandomModel m = random_model(preset.config, a->seed, dtype);
      m.write(tmp, a->layout == "hf" ? Layout::HF : Layout::StateSpaces, dtype);
    });
    std::fprintf(stderr, "wrote %s (%s, %s layout, %s, seed %llu)\n", out.string().c_str(),
                 preset.name.c_str(), a->layout.c_str(), a->dtype.c_str(),
                 (unsigned long long)a->seed);
    return 0;
  };
}

}  // namespace ms::cli
