// `zeroshot MODEL --task FILE.jsonl [...] [--scheme S/mambascope.json [--stats S]] [--limit N]`:
// zero-shot accuracy as lm-evaluation-harness scores it, for the float model or, with --scheme,
// the quantized one (the scheme's whole chain as eval runs it: quantize's weights, activation
// bits, state bits inside the recurrence, run-time transforms). Task files: zeroshot_tasks.h.
//
// Every continuation is scored by one forward from a zero state over context + continuation
// (no prefix sharing): the sum of the log-probabilities of its tokens, teacher-forced, and whether
// each token is the argmax. LAMBADA: acc = every target token greedy-correct; ppl = exp(−mean over
// items of the target's log-likelihood) (lm-eval's lambada perplexity). Multiple choice: acc =
// argmax of the log-likelihoods is the label; acc_norm = argmax of log-likelihood / the choice's
// length in UTF-8 bytes (ties: the first). The float model batches right-padded sequences (the
// recurrence is causal, so padding after a sequence cannot reach it); a quantized forward runs one
// sequence at a time, because dynamic activation scales and the state quantizer's scales would
// otherwise see the other sequences and the padding.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <set>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "core/cli/commands.h"
#include "core/cli/common.h"
#include "core/cli/scheme_args.h"
#include "core/cli/static_scales.h"
#include "core/cli/zeroshot_tasks.h"
#include "core/engine/device.h"
#include "core/engine/fake_quant.h"
#include "core/util/error.h"

namespace ms::cli {
using nlohmann::json;

namespace {

constexpr int64_t kBatchTokens = 2048;  // keeps the [B, T, V] logits of a batch near 400 MB at V 50k
constexpr int64_t kMaxBatch = 32;

struct Score {
  double loglik = 0;
  bool greedy = false;  // every continuation token is the argmax
};

std::vector<Score> score_requests(const MambaModel& model, const FakeQuant* fq, const std::vector<Request>& reqs,
                                  const ProgressFn& progress) {
  std::vector<size_t> order(reqs.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return reqs[a].ids.size() > reqs[b].ids.size(); });
  std::vector<Score> out(reqs.size());
  const at::Device device = model.options().device;
  size_t next = 0;
  while (next < order.size()) {
    // The longest first: a batch is as many as fit the token budget at the first one's length.
    const int64_t len = static_cast<int64_t>(reqs[order[next]].ids.size()) - 1;
    int64_t batch = fq ? 1 : std::clamp<int64_t>(kBatchTokens / std::max<int64_t>(len, 1), 1, kMaxBatch);
    batch = std::min<int64_t>(batch, static_cast<int64_t>(order.size() - next));
    at::Tensor ids = at::zeros({batch, len}, at::kLong);
    auto acc = ids.accessor<int64_t, 2>();
    for (int64_t b = 0; b < batch; ++b) {
      const Request& r = reqs[order[next + static_cast<size_t>(b)]];
      for (size_t t = 0; t + 1 < r.ids.size(); ++t) acc[b][static_cast<int64_t>(t)] = r.ids[t];
    }
    const at::Tensor logp = model.forward(ids.to(device), nullptr, nullptr, fq).log_softmax(-1).cpu();
    for (int64_t b = 0; b < batch; ++b) {
      const Request& r = reqs[order[next + static_cast<size_t>(b)]];
      const int64_t from = static_cast<int64_t>(r.context_len) - 1, to = static_cast<int64_t>(r.ids.size()) - 1;
      const at::Tensor rows = logp[b].slice(0, from, to);  // [n, V]: row k predicts ids[context_len + k]
      const at::Tensor target =
          at::tensor(std::vector<int64_t>(r.ids.begin() + static_cast<long>(r.context_len), r.ids.end()));
      Score& s = out[order[next + static_cast<size_t>(b)]];
      s.loglik = rows.gather(1, target.unsqueeze(1)).to(at::kDouble).sum().item<double>();
      s.greedy = rows.argmax(1).equal(target);
    }
    next += static_cast<size_t>(batch);
    if (progress && !progress(static_cast<int64_t>(next), static_cast<int64_t>(order.size())))
      throw Cancelled();
  }
  return out;
}

size_t first_max(const std::vector<double>& v) {
  return static_cast<size_t>(std::max_element(v.begin(), v.end()) - v.begin());  // the first of ties
}

struct TaskResult {
  json j;
  double acc = 0;
};

TaskResult evaluate_task(const TaskFile& task, const std::vector<Score>& scores, bool items) {
  const size_t n = task.items.size();
  json per_item = json::array();
  double correct = 0, correct_norm = 0, loglik_sum = 0;
  for (size_t i = 0, r = 0; i < n; ++i) {
    const TaskItem& item = task.items[i];
    std::vector<double> ll, norm;
    bool greedy = true;
    for (size_t c = 0; c < item.choices.size(); ++c, ++r) {
      ll.push_back(scores[r].loglik);
      norm.push_back(scores[r].loglik / static_cast<double>(item.choices[c].size()));
      greedy = scores[r].greedy;  // LAMBADA has the one choice
    }
    json ji{{"line", item.line}, {"loglik", ll}};
    if (task.kind == TaskKind::Lambada) {
      correct += greedy;
      loglik_sum += ll[0];
      ji["greedy"] = greedy;
    } else {
      correct += first_max(ll) == static_cast<size_t>(item.label);
      correct_norm += first_max(norm) == static_cast<size_t>(item.label);
      ji["pred"] = first_max(ll);
      ji["pred_norm"] = first_max(norm);
    }
    per_item.push_back(ji);
  }
  TaskResult t;
  t.acc = correct / static_cast<double>(n);
  t.j = {{"task", task.name}, {"file", task.path.string()}, {"n", n}, {"acc", t.acc}};
  if (task.kind == TaskKind::Lambada) {
    t.j["kind"] = "lambada";
    t.j["ppl"] = std::exp(-loglik_sum / static_cast<double>(n));
  } else {
    t.j["kind"] = "multiple_choice";
    t.j["acc_norm"] = correct_norm / static_cast<double>(n);
  }
  if (items) t.j["items"] = per_item;
  return t;
}

void print_task(const json& t) {
  std::printf("task: %s  n: %lld  acc: %.4f", t["task"].get<std::string>().c_str(), t["n"].get<long long>(),
              t["acc"].get<double>());
  if (t.contains("acc_norm")) std::printf("  acc_norm: %.4f", t["acc_norm"].get<double>());
  if (t.contains("ppl")) std::printf("  ppl: %.4f", t["ppl"].get<double>());
  std::printf("\n");
}

}  // namespace

Runner register_zeroshot(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "zeroshot", "Zero-shot task accuracy as lm-evaluation-harness scores it (LAMBADA last-word accuracy "
                  "and perplexity; multiple choice acc and acc_norm by log-likelihood), float or under a scheme");
  cmd->footer(R"(
Task files are JSON Lines, one item a line, all of one kind; the task's name is the file's stem.
  LAMBADA style:   {"text": "He handed her the cup and she drank the tea"}
      context = the text before its last space, target = " " + the last word; correct when every
      target token is the argmax given the passage before it (teacher-forced); ppl = exp(-mean over
      items of the target's log-likelihood).
  Multiple choice: {"context": "The sun rises in the", "choices": ["east", "west"], "label": 0}
      each choice is scored as " " + choice (lm-eval's target delimiter) after the context: acc by
      the sum of its tokens' log-probabilities, acc_norm by that sum / the choice's length in bytes.
Context and continuation are tokenized separately and their ids concatenated (an empty context
becomes the end-of-text token). Bad input: one line naming the file and the line.

Example:
  mambascope-cli zeroshot resources/models/demo-mamba --task lambada.jsonl --task arc_easy.jsonl \
      --scheme /tmp/demo-w4/mambascope.json --limit 500
)");
  struct Args {
    std::string model;
    std::vector<std::string> tasks;
    int64_t limit = 0;
    bool items = false;
    SchemeArgs s;
    CommonOptions o;
  };
  auto a = std::make_shared<Args>();
  cmd->add_option("MODEL", a->model, "Model directory (the float model)")->required();
  cmd->add_option("--task", a->tasks, "Task file (.jsonl, see below); repeat for several")->required();
  cmd->add_option("--limit", a->limit, "Only the first N items of each task (0: all)")->check(CLI::NonNegativeNumber);
  cmd->add_flag("--items", a->items, "With --json: every item's log-likelihoods and predictions");
  add_scheme_options(cmd, a->s);
  add_engine_options(cmd, a->o);
  add_tokenizer_options(cmd, a->o);
  return [a] {
    std::vector<TaskFile> tasks;  // every file is checked before the model loads
    for (const std::string& f : a->tasks) tasks.push_back(read_task_file(f, a->limit));
    const SchemeArgs& s = a->s;
    const bool quantized = !s.scheme.empty() || s.abits || s.hbits || !s.act_scale.empty() ||
                           !s.act_granularity.empty() || !s.state_method.empty() || !s.dsq_variant.empty();
    EvalInputs in;
    if (quantized) {
      in.scheme = resolve_scheme(s);
      if (statistics_give_static_scales(in.scheme)) require_statistics_file(in.scheme);
    }
    in.model = load_model(a->model, a->o);
    const Tokenizer tok = load_tokenizer(in.model.checkpoint, a->o);
    int32_t bos = -1;
    if (a->o.add_bos) {
      if (!tok.bos_id()) throw InputError(tok.source(), "--add-bos: the tokenizer declares no BOS token");
      bos = *tok.bos_id();
    }
    const int32_t eot = tok.eos_id().value_or(-1);
    std::vector<std::vector<Request>> requests;
    for (const TaskFile& t : tasks) requests.push_back(task_requests(t, tok, bos, eot));

    const MambaModel* model = in.model.model.get();
    std::unique_ptr<MambaModel> qmodel;
    std::unique_ptr<PointFakeQuant> fq;
    if (quantized) {
      const std::optional<std::filesystem::path> tokenizer =
          a->o.tokenizer.empty() ? std::nullopt : std::optional<std::filesystem::path>(a->o.tokenizer);
      in.weights = scheme_weights_of(in.model.checkpoint, in.scheme, tokenizer);
      in.static_scales = scheme_static_absmax(in.scheme, s, in.weights, in.model.checkpoint, tokenizer);
      if (in.weights.stored) qmodel = MambaModel::load(*in.weights.stored, model->options());
      else if (in.weights.transformed) qmodel = MambaModel::load(in.weights.base, model->options());
      if (qmodel) model = qmodel.get();
      const std::vector<QuantPoint> points = activation_points(model->config());
      fq = scheme_fake_quant(in, std::set<QuantPoint>(points.begin(), points.end()));
    }

    json results = json::array();
    double acc_sum = 0;
    for (size_t i = 0; i < tasks.size(); ++i) {
      const std::vector<Score> scores =
          score_requests(*model, fq.get(), requests[i], progress_reporter("zeroshot " + tasks[i].name, "requests"));
      TaskResult t = evaluate_task(tasks[i], scores, a->items);
      acc_sum += t.acc;
      if (!a->o.json) print_task(t.j);
      results.push_back(std::move(t.j));
    }
    const double average = acc_sum / static_cast<double>(tasks.size());
    if (a->o.json) {
      json j{{"model", a->model},
             {"scheme", quantized ? json(in.scheme.describe()) : json(nullptr)},
             {"device", describe_device(model->options().device)},
             {"dtype", std::string(dtype_label(model->options().dtype))},
             {"tasks", results}};
      if (tasks.size() > 1) j["average"] = {{"tasks", tasks.size()}, {"acc", average}};
      std::printf("%s\n", j.dump(2).c_str());
    } else if (tasks.size() > 1) {
      std::printf("average  tasks: %zu  acc: %.4f\n", tasks.size(), average);
    }
    return 0;
  };
}

}  // namespace ms::cli
