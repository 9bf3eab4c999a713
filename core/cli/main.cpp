// mambascope-cli: the headless half of MambaScope. Maps every error to the contract's exit codes:
// 1 for bad input or a failed operation, 2 for bad usage; one line on stderr, never a crash.
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <new>
#include <string>
#include <vector>

#include <c10/util/Exception.h>

#include "core/cli/commands.h"
#include "core/util/error.h"

namespace {

int fail(int code, const std::string& message) {
  std::string line = message.substr(0, message.find('\n'));  // the contract: one line
  std::fprintf(stderr, "mambascope-cli: error: %s\n", line.c_str());
  return code;
}

const char* kFooter = R"(
Models: a directory in the HF layout (config.json + model.safetensors or shards with an index),
the original state-spaces layout (config.json + pytorch_model.bin), or a .safetensors file with
config.json beside it. Supported: mamba, falcon_mamba, mamba2 (any n_groups).

Examples:
  mambascope-cli init-random --preset tiny-mamba --out /tmp/tiny
  mambascope-cli info resources/models/demo-mamba
  mambascope-cli tokenize resources/models/demo-mamba --text "Call me Ishmael."
  mambascope-cli perplexity resources/models/demo-mamba --file moby.txt --ctx 1024
  mambascope-cli generate resources/models/demo-mamba --prompt "It is a truth" -n 40
  mambascope-cli logits MODEL --text "Hello" --out logits.npy
  mambascope-cli calibrate resources/models/demo-mamba --file resources/texts/austen.txt --out stats.safetensors --max-tokens 100000
  mambascope-cli quantize resources/models/demo-mamba --method rtn --wbits 4 --format hf --out /tmp/demo-w4
  mambascope-cli eval resources/models/demo-mamba --scheme /tmp/demo-w4/mambascope.json --file moby.txt --hbits 4
  mambascope-cli sweep resources/models/demo-mamba --hbits 4 --state-method tensor --file moby.txt --by layer
  mambascope-cli bench forward --preset mamba-130m --device cpu --out bench.json
  mambascope-cli bench requant --preset mamba-130m --device cuda --out requant.json
  mambascope-cli preview resources/models/demo-mamba --point layers.5.out_proj.input --method hadamard --bits 8
  mambascope-cli states resources/models/demo-mamba --file resources/texts/austen.txt --layer 5 --hbits 4 --out states.safetensors
  mambascope-cli zeroshot resources/models/demo-mamba --task lambada.jsonl --task piqa.jsonl --scheme /tmp/demo-w4/mambascope.json

Exit status: 0 success, 1 bad input or failed operation, 2 bad usage.
Run `mambascope-cli COMMAND --help` for a command's flags.)";

// One line for an allocation that failed, with the size when torch's message gives it ("Tried to
// allocate 114.44 GiB." from the CUDA allocator, "you tried to allocate 8000000000 bytes." from
// the CPU one) and what to try. Torch's own message is many lines of allocator detail. The process
// exits right after this line, which gives every byte of the GPU (and the RAM) back.
std::string out_of_memory_line(bool gpu, const std::string& torch_message) {
  std::string size;
  for (const std::string tried : {"Tried to allocate ", "tried to allocate "}) {
    const size_t at = torch_message.find(tried);
    if (at == std::string::npos) continue;
    const size_t begin = at + tried.size();
    const size_t end = torch_message.find_first_of(".(\n", torch_message.find(' ', begin));
    if (end == std::string::npos) break;
    size = torch_message.substr(begin, end - begin);
    while (!size.empty() && size.back() == ' ') size.pop_back();
    if (size.size() > 6 && size.compare(size.size() - 6, 6, " bytes") == 0) {
      const double bytes = std::strtod(size.c_str(), nullptr);
      char buf[32];
      if (bytes >= double(1ull << 30)) std::snprintf(buf, sizeof buf, "%.2f GiB", bytes / double(1ull << 30));
      else std::snprintf(buf, sizeof buf, "%.2f MiB", bytes / double(1ull << 20));
      size = buf;
    }
    break;
  }
  const std::string what = gpu ? "out of GPU memory" : "out of memory";
  const std::string advice = gpu ? "try a smaller --batch, --seq-len or --ctx, or --device cpu"
                                 : "try a smaller --batch, --seq-len or --ctx, or --dtype bf16";
  return what + (size.empty() ? "" : " (an allocation of " + size + " failed)") + ": " + advice;
}
}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"mambascope-cli: inspect, calibrate and quantize Mamba language models, headless.",
               "mambascope-cli"};
  app.set_version_flag("--version", std::string("mambascope-cli ") + MAMBASCOPE_VERSION);
  app.require_subcommand(1);
  app.footer(kFooter);
  std::vector<std::pair<CLI::App*, ms::cli::Runner>> commands;
  auto reg = [&](ms::cli::Runner (*f)(CLI::App&)) {
    size_t before = app.get_subcommands({}).size();
    ms::cli::Runner r = f(app);
    commands.emplace_back(app.get_subcommands({}).at(before), std::move(r));
  };
  reg(ms::cli::register_info);
  reg(ms::cli::register_tokenize);
  reg(ms::cli::register_logits);
  reg(ms::cli::register_perplexity);
  reg(ms::cli::register_generate);
  reg(ms::cli::register_init_random);
  reg(ms::cli::register_calibrate);
  reg(ms::cli::register_bench);
  reg(ms::cli::register_check);
  reg(ms::cli::register_quantize);
  reg(ms::cli::register_eval);
  reg(ms::cli::register_sweep);
  reg(ms::cli::register_requant_serve);
  reg(ms::cli::register_preview);
  reg(ms::cli::register_states);
  reg(ms::cli::register_zeroshot);
  // An unknown command is named (CLI11 would only say that a subcommand is required).
  if (argc > 1 && argv[1][0] != '-') {
    std::string known;
    bool found = false;
    for (auto& [cmd, run] : commands) {
      found |= cmd->get_name() == argv[1];
      known += (known.empty() ? "" : ", ") + cmd->get_name();
    }
    if (!found) return fail(2, std::string("unknown command '") + argv[1] + "' (commands: " + known + ")");
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    // Every other parse error is bad usage: exit 2 with one line, as the contract asks.
    return fail(2, std::string(e.what()) + " (see --help)");
  }
  try {
    for (auto& [cmd, run] : commands)
      if (cmd->parsed()) return run();
    return 2;
  } catch (const ms::UsageError& e) {
    return fail(2, e.what());
  } catch (const ms::InputError& e) {
    return fail(1, e.what());
  } catch (const ms::Cancelled&) {
    return fail(1, "cancelled");
  } catch (const std::bad_alloc&) {
    return fail(1, out_of_memory_line(false, ""));
  } catch (const c10::Error& e) {
    std::string msg = e.what_without_backtrace();
    if (msg.find("out of memory") != std::string::npos) return fail(1, out_of_memory_line(true, msg));
    if (msg.find("DefaultCPUAllocator") != std::string::npos)  // "not enough memory", "can't allocate memory"
      return fail(1, out_of_memory_line(false, msg));
    return fail(1, msg);
  } catch (const std::exception& e) {
    return fail(1, e.what());
  }
}
