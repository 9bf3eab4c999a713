// Each mambascope-cli command registers itself on the CLI11 app and returns its runner.
// One command per file (cmd_<name>.cpp); main.cpp only wires them and maps errors to exit codes.
#pragma once

#include <functional>

#include <CLI/CLI.hpp>

namespace ms::cli {

using Runner = std::function<int()>;

Runner register_info(CLI::App& app);
Runner register_tokenize(CLI::App& app);
Runner register_logits(CLI::App& app);
Runner register_perplexity(CLI::App& app);
Runner register_generate(CLI::App& app);
Runner register_init_random(CLI::App& app);
Runner register_calibrate(CLI::App& app);
Runner register_bench(CLI::App& app);
Runner register_check(CLI::App& app);
Runner register_quantize(CLI::App& app);
Runner register_eval(CLI::App& app);
Runner register_sweep(CLI::App& app);
Runner register_requant_serve(CLI::App& app);
Runner register_preview(CLI::App& app);
Runner register_states(CLI::App& app);
Runner register_zeroshot(CLI::App& app);

}  // namespace ms::cli
