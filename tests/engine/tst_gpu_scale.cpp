// Issue 4 item 5 on the CPU: --max-gpu-mem's size parsing and the resident/stream/refuse decision
// (exact boundaries, and the byte counts checked against what MambaModel::load and PinnedLayers
// really allocate), the streamed layer block's layout (every tensor read back bit for bit), and
// the several-device pipeline: batches dealt round-robin to workers in their own threads and
// merged with CalibStats::merge equal one run over the same batches (extrema, counts and
// histograms exactly; fp64 sums to rounding). The GPU side (streaming's copies, NCCL) runs in
// tests/gpu/run_scale_on_gpu_host.sh.
#include <QtTest>

#include <ATen/ATen.h>

#include "core/engine/calibration.h"
#include "core/engine/gpu_memory_plan.h"
#include "core/engine/layer_streamer.h"
#include "core/engine/random_init.h"
#include "core/util/error.h"

using namespace ms;

namespace {

// fp64 sums merged from two partial sums differ from one running sum by reordering only.
constexpr double kReorderTolerance = 1e-12;

std::vector<CalibText> random_texts(int64_t vocab, std::vector<int64_t> lengths, uint64_t seed) {
  at::manual_seed(seed);
  std::vector<CalibText> texts;
  for (int64_t n : lengths) {
    at::Tensor ids = at::randint(vocab, {n}, at::kInt);
    texts.push_back({"t" + std::to_string(texts.size()), "",
                     std::vector<int32_t>(ids.data_ptr<int32_t>(), ids.data_ptr<int32_t>() + n)});
  }
  return texts;
}

int64_t bytes_of(const at::Tensor& t) { return t.defined() ? allocation_bytes(t.nbytes()) : 0; }

double worst_rel(const at::Tensor& a, const at::Tensor& b) {
  at::Tensor ad = a.to(at::kDouble), bd = b.to(at::kDouble);
  return ((ad - bd).abs() / bd.abs().clamp_min(1e-30)).max().item<double>();
}

}  // namespace

class TestGpuScale : public QObject {
  Q_OBJECT
 private Q_SLOTS:
  void byte_sizes() {
    QCOMPARE(parse_byte_size("8G"), int64_t(8) << 30);
    QCOMPARE(parse_byte_size("512M"), int64_t(512) << 20);
    QCOMPARE(parse_byte_size("1.5G"), int64_t(3) << 29);
    QCOMPARE(parse_byte_size("64KiB"), int64_t(65536));
    QCOMPARE(parse_byte_size("2gb"), int64_t(2) << 30);
    QCOMPARE(parse_byte_size("123456"), int64_t(123456));
    QCOMPARE(parse_byte_size("1T"), int64_t(1) << 40);
    for (const char* junk : {"", "G", "8X", "1.2.3G", "0", "-5G", "8 G", "eight", "0.1"}) {
      try {
        parse_byte_size(junk);
        QFAIL(qPrintable(QString("accepted '%1'").arg(junk)));
      } catch (const UsageError& e) {
        QVERIFY2(std::string(e.what()).find("--max-gpu-mem") != std::string::npos, e.what());
      }
    }
    QCOMPARE(format_bytes(int64_t(3) << 29), std::string("1.50 GiB"));
    QCOMPARE(format_bytes(int64_t(512) << 20), std::string("512.0 MiB"));
  }

  // tiny-mamba: d 64, E 128, N 16, K 4, R 4, conv bias, no proj bias. Fields at 256-byte
  // offsets: norm 256, in_proj 65536, conv (fp32) 2048, conv bias 512, out_proj 32768, A 8192,
  // D 512, x_proj 18432, dt_proj 2048, dt_proj bias 512.
  void streamed_layer_by_hand() {
    const ModelConfig& c = find_preset("tiny-mamba").config;
    QCOMPARE(c.dt_rank, int64_t(4));
    QCOMPARE(streamed_layer_bytes(c, 4), int64_t(130816));
    // bf16: the Linears and the norm halve (norm 128 -> 256 aligned), conv stays fp32.
    QCOMPARE(streamed_layer_bytes(c, 2), int64_t(256 + 32768 + 2048 + 512 + 16384 + 8192 + 512 + 9216 + 1024 + 512));
  }

  // The plan's counts against the real allocations of a loaded model and a packed layer.
  void byte_counts_match_allocations_data() {
    QTest::addColumn<QString>("preset");
    QTest::addColumn<bool>("bf16");
    for (const char* p : {"tiny-mamba", "tiny-mamba2"}) {
      QTest::newRow((std::string(p) + " fp32").c_str()) << p << false;
      QTest::newRow((std::string(p) + " bf16").c_str()) << p << true;
    }
  }
  void byte_counts_match_allocations() {
    QFETCH(QString, preset);
    QFETCH(bool, bf16);
    const at::ScalarType dt = bf16 ? at::kBFloat16 : at::kFloat;
    const int64_t s = bf16 ? 2 : 4;
    RandomModel rm = random_model(find_preset(preset.toStdString()).config, 5, at::kFloat);
    Checkpoint ck = rm.as_checkpoint();
    EngineOptions eo;
    eo.dtype = dt;
    auto model = MambaModel::load(ck, eo);
    const ModelConfig& c = model->config();
    QVERIFY(c.tie_embeddings);
    int64_t resident = bytes_of(model->embedding()) + allocation_bytes(c.d_model * s);  // + norm_f
    for (int64_t i = 0; i < c.n_layer; ++i) {
      const LayerWeights& w = model->layer(i);
      for (const at::Tensor* t : {&w.norm, &w.in_proj, &w.in_proj_bias, &w.conv, &w.conv_bias,
                                  &w.x_proj, &w.dt_proj, &w.dt_proj_bias, &w.A, &w.D, &w.dt_bias,
                                  &w.gated_norm, &w.out_proj, &w.out_proj_bias})
        resident += bytes_of(*t);
      if (bf16) resident += bytes_of(w.conv.to(at::kFloat)) + bytes_of(w.conv_bias.to(at::kFloat));
    }
    QCOMPARE(resident_weight_bytes(c, s), resident);
    PinnedLayers pinned(*model);
    QCOMPARE(pinned.layers(), c.n_layer);
    QCOMPARE(pinned.block_bytes(), streamed_layer_bytes(c, s));
  }

  // Every tensor of every layer comes back from its block bit for bit (conv as fp32).
  void streamed_blocks_round_trip_data() { byte_counts_match_allocations_data(); }
  void streamed_blocks_round_trip() {
    QFETCH(QString, preset);
    QFETCH(bool, bf16);
    RandomModel rm = random_model(find_preset(preset.toStdString()).config, 6, at::kFloat);
    Checkpoint ck = rm.as_checkpoint();
    EngineOptions eo;
    eo.dtype = bf16 ? at::kBFloat16 : at::kFloat;
    auto model = MambaModel::load(ck, eo);
    PinnedLayers pinned(*model);
    for (int64_t i = 0; i < model->config().n_layer; ++i) {
      LayerWeights w;
      LayerOperands ops;
      pinned.view(pinned.block(i), w, ops);
      const LayerWeights& ref = model->layer(i);
      int compared = 0;
      for (auto m : {&LayerWeights::norm, &LayerWeights::in_proj, &LayerWeights::in_proj_bias,
                     &LayerWeights::x_proj, &LayerWeights::dt_proj, &LayerWeights::dt_proj_bias,
                     &LayerWeights::A, &LayerWeights::D, &LayerWeights::dt_bias,
                     &LayerWeights::gated_norm, &LayerWeights::out_proj, &LayerWeights::out_proj_bias}) {
        QCOMPARE((w.*m).defined(), (ref.*m).defined());
        if (!(ref.*m).defined()) continue;
        QCOMPARE((w.*m).scalar_type(), (ref.*m).scalar_type());
        QCOMPARE((w.*m).sizes().vec(), (ref.*m).sizes().vec());
        QVERIFY(at::equal(w.*m, ref.*m));
        ++compared;
      }
      QVERIFY(compared >= 7);
      QCOMPARE(ops.weights, &w);
      QCOMPARE(ops.conv_w.scalar_type(), at::kFloat);
      QVERIFY(at::equal(ops.conv_w, ref.conv.to(at::kFloat)));
      QVERIFY(at::equal(ops.conv_b, ref.conv_bias.to(at::kFloat)));
    }
  }

  // The streamer's bookkeeping over several batches: each layer runs from a block that holds it,
  // a copy never lands in the block of an acquired layer (only in one released, whose event the
  // copy waits for), and after the first layer every layer was prefetched (one copy per layer).
  void stream_schedule_data() {
    QTest::addColumn<int>("layers");
    for (int L : {1, 2, 3, 5, 64}) QTest::newRow(std::to_string(L).c_str()) << L;
  }
  void stream_schedule() {
    QFETCH(int, layers);
    StreamSchedule sched(layers);
    std::array<int64_t, 2> content{-1, -1};
    std::array<bool, 2> busy{false, false};
    int copies = 0;
    const int batches = 3;
    for (int b = 0; b < batches; ++b)
      for (int64_t i = 0; i < layers; ++i) {
        const StreamSchedule::Step st = sched.acquire(i);
        QVERIFY(st.slot == 0 || st.slot == 1);
        if (st.copy_first) {
          QVERIFY(!busy[size_t(st.slot)]);
          content[size_t(st.slot)] = i;
          ++copies;
        }
        QCOMPARE(content[size_t(st.slot)], i);
        busy[size_t(st.slot)] = true;
        if (st.prefetch >= 0) {
          QCOMPARE(st.prefetch, (i + 1) % layers);
          QCOMPARE(st.prefetch_slot, 1 - st.slot);
          QVERIFY(!busy[size_t(st.prefetch_slot)]);
          content[size_t(st.prefetch_slot)] = st.prefetch;
          ++copies;
        }
        QCOMPARE(sched.release(i), st.slot);
        busy[size_t(st.slot)] = false;
        QVERIFY(b > 0 || i > 0 || st.copy_first);
        QVERIFY(b == 0 && i == 0 ? true : !st.copy_first);
      }
    // One copy per layer per batch and one prefetch past the end (layer 0 of a next batch); one
    // or two layers stay in the two blocks after the first two copies.
    QCOMPARE(copies, layers <= 2 ? 2 : batches * layers + 1);
    QVERIFY_THROWS_EXCEPTION(UsageError, sched.release(0));  // nothing acquired
    sched.acquire(0);
    QVERIFY_THROWS_EXCEPTION(UsageError, sched.acquire(1));  // 0 not released yet
  }

  // Exact boundaries of the decision, from the plan's own totals.
  void decision_boundaries() {
    const ModelConfig& c = find_preset("mamba-2.8b").config;
    const GpuMemoryPlan probe = plan_gpu_memory(c, 4, 8, 2048, false, 1);
    QCOMPARE(probe.placement, GpuPlacement::Refuse);
    QCOMPARE(probe.resident_need, probe.weights + probe.accumulators + probe.activations + kGpuReserveBytes);
    QCOMPARE(probe.stream_need, 2 * probe.layer + probe.accumulators + probe.activations + kGpuReserveBytes);
    QCOMPARE(plan_gpu_memory(c, 4, 8, 2048, false, probe.resident_need).placement, GpuPlacement::Resident);
    QCOMPARE(plan_gpu_memory(c, 4, 8, 2048, false, probe.resident_need - 1).placement, GpuPlacement::Stream);
    QCOMPARE(plan_gpu_memory(c, 4, 8, 2048, false, probe.stream_need).placement, GpuPlacement::Stream);
    const GpuMemoryPlan refused = plan_gpu_memory(c, 4, 8, 2048, false, probe.stream_need - 1);
    QCOMPARE(refused.placement, GpuPlacement::Refuse);
    QVERIFY2(refused.message.find("smaller --batch or --seq-len") != std::string::npos, refused.message.c_str());
    QVERIFY(refused.message.find('\n') == std::string::npos);
    // The weights are the parameters at 4 bytes (each tensor rounded up to 512 bytes; the conv
    // needs no fp32 copy in fp32).
    const int64_t params = c.parameter_count() * 4;
    QVERIFY(probe.weights >= params && probe.weights < params + 512 * (2 + 10 * c.n_layer) + 512);
  }

  // The cases the GPU script runs: mamba-2.8b fp32 batch 8 x 2048 under 8G streams (11 GB of
  // weights); 40G keeps it resident; 1G cannot hold two layers and a batch. mamba-codestral-7b
  // bf16 under 8G streams with a small batch.
  void decision_cases() {
    const ModelConfig& m28 = find_preset("mamba-2.8b").config;
    const GpuMemoryPlan p8 = plan_gpu_memory(m28, 4, 8, 2048, false, parse_byte_size("8G"));
    QCOMPARE(p8.placement, GpuPlacement::Stream);
    QVERIFY2(p8.message.rfind("layer streaming on: model 10.", 0) == 0, p8.message.c_str());
    qInfo("%s", p8.message.c_str());
    QCOMPARE(plan_gpu_memory(m28, 4, 8, 2048, false, parse_byte_size("40G")).placement, GpuPlacement::Resident);
    QCOMPARE(plan_gpu_memory(m28, 4, 8, 2048, false, parse_byte_size("1G")).placement, GpuPlacement::Refuse);
    QCOMPARE(plan_gpu_memory(m28, 4, 1, 256, false, parse_byte_size("1G")).placement, GpuPlacement::Stream);
    const ModelConfig& cs = find_preset("mamba-codestral-7b").config;
    const GpuMemoryPlan c8 = plan_gpu_memory(cs, 2, 4, 1024, false, parse_byte_size("8G"));
    QCOMPARE(c8.placement, GpuPlacement::Stream);
    qInfo("%s", c8.message.c_str());
    QCOMPARE(plan_gpu_memory(cs, 2, 4, 1024, false, parse_byte_size("20G")).placement, GpuPlacement::Resident);
    // --cov adds a [C, C] fp64 matrix per point: codestral's 64 layers x (4096² + 8192²) x 8 B.
    QCOMPARE(plan_gpu_memory(cs, 2, 4, 1024, true, parse_byte_size("8G")).placement, GpuPlacement::Refuse);
  }

  void round_robin() {
    QVERIFY(runs_batch(0, 0, 2) && runs_batch(1, 1, 2) && runs_batch(2, 0, 2) && !runs_batch(3, 0, 2));
    QVERIFY(runs_batch(4, 1, 3) && !runs_batch(4, 0, 3));
  }

  // Several workers (here on the CPU, the reference engine) merged on the host equal one run.
  void several_devices_equal_one_data() {
    QTest::addColumn<QString>("preset");
    QTest::addColumn<int>("workers");
    QTest::newRow("mamba 2") << "tiny-mamba" << 2;
    QTest::newRow("mamba2 3") << "tiny-mamba2" << 3;
    QTest::newRow("mamba 7 (more workers than batches)") << "tiny-mamba" << 7;
  }
  void several_devices_equal_one() {
    QFETCH(QString, preset);
    QFETCH(int, workers);
    RandomModel rm = random_model(find_preset(preset.toStdString()).config, 12, at::kFloat);
    Checkpoint ck = rm.as_checkpoint();
    auto model = MambaModel::load(ck, EngineOptions{});
    auto texts = random_texts(rm.config.padded_vocab, {40, 9, 31}, 4);
    CalibOptions o;
    o.seq_len = 8;  // 40 -> 5 x 8; 9 -> 8, 1; 31 -> 3 x 8, 7: nine of 8 in 3 batches of 3, then 7, then 1
    o.batch = 3;
    o.covariance = true;
    o.merge = StatsMerge::Host;
    const CalibStats one = calibrate(*model, texts, o);
    std::vector<std::unique_ptr<MambaModel>> copies;
    std::vector<CalibDevice> devices;
    for (int k = 0; k < workers; ++k) {
      copies.push_back(MambaModel::load(ck, EngineOptions{}));
      devices.push_back({copies.back().get(), c10::Device(c10::kCPU)});
    }
    int64_t calls = 0, last = 0;
    const CalibStats many = calibrate_on(devices, texts, o, [&](int64_t done, int64_t total) {
      ++calls;
      last = done;
      return done <= total;
    });
    QCOMPARE(calls, int64_t(5));  // one per batch, whichever worker ran it
    QCOMPARE(last, int64_t(80));
    QCOMPARE(many.tokens, one.tokens);
    QCOMPARE(many.metadata.fields.at("merge"), std::string("host"));
    QCOMPARE(many.activations.size(), one.activations.size());
    QCOMPARE(many.states.size(), one.states.size());
    double worst = 0;
    for (const auto& [key, a] : one.activations) {
      const ActivationStats& b = many.activations.at(key);
      QVERIFY2(at::equal(a.absmax, b.absmax), key.c_str());
      QVERIFY2(at::equal(a.min, b.min), key.c_str());
      QVERIFY2(at::equal(a.max, b.max), key.c_str());
      QVERIFY2(at::equal(a.count, b.count), key.c_str());
      QVERIFY2(at::equal(a.hist, b.hist), key.c_str());
      // Sums near zero are compared on the scale of their terms (|Σx| <= sqrt(n Σx²)).
      at::Tensor scale = (a.count.to(at::kDouble) * a.sumsq).sqrt().clamp_min(1e-30);
      worst = std::max(worst, ((a.sum - b.sum).abs() / scale).max().item<double>());
      worst = std::max(worst, worst_rel(b.sumsq, a.sumsq));
      worst = std::max(worst, ((b.cov - a.cov).abs().max() / a.cov.abs().max()).item<double>());
    }
    for (const auto& [key, s] : one.states) {
      const StateStats& b = many.states.at(key);
      QVERIFY2(at::equal(s.absmax, b.absmax), key.c_str());
      QCOMPARE(b.count, s.count);
      worst = std::max(worst, worst_rel(b.sum_abs, s.sum_abs));
    }
    qInfo("worst fp64 sum difference %.3g (limit %.0g)", worst, kReorderTolerance);
    QVERIFY(worst <= kReorderTolerance);
  }

  // A cancel from the progress callback stops every worker; what ran is kept and marked.
  void several_devices_cancel() {
    RandomModel rm = random_model(find_preset("tiny-mamba").config, 13, at::kFloat);
    Checkpoint ck = rm.as_checkpoint();
    auto a = MambaModel::load(ck, EngineOptions{}), b = MambaModel::load(ck, EngineOptions{});
    auto texts = random_texts(rm.config.padded_vocab, {200}, 5);
    CalibOptions o;
    o.seq_len = 10;
    o.batch = 1;
    const CalibStats s = calibrate_on({{a.get(), c10::Device(c10::kCPU)}, {b.get(), c10::Device(c10::kCPU)}},
                                      texts, o, [](int64_t done, int64_t) { return done < 30; });
    QCOMPARE(s.metadata.fields.at("cancelled"), std::string("true"));
    QVERIFY2(s.tokens >= 30 && s.tokens <= 40, qPrintable(QString::number(s.tokens)));  // the other worker may finish one batch
    QCOMPARE(s.activations.at("layers.0.in_proj.input").count[0].item<int64_t>(), s.tokens);
  }

  // Streaming is the fused engine's: on a CPU-only machine it is refused in one line.
  void streaming_needs_cuda() {
    RandomModel rm = random_model(find_preset("tiny-mamba").config, 14, at::kFloat);
    Checkpoint ck = rm.as_checkpoint();
    auto model = MambaModel::load(ck, EngineOptions{});
    CalibOptions o;
    o.stream_layers = true;
    try {
      calibrate_on({{model.get(), c10::Device(c10::kCUDA, 0)}}, random_texts(512, {10}, 1), o);
      QFAIL("streaming ran without a GPU");
    } catch (const UsageError& e) {
      QVERIFY2(std::string(e.what()).find("layer streaming") != std::string::npos, e.what());
    }
  }
};

QTEST_GUILESS_MAIN(TestGpuScale)
#include "tst_gpu_scale.moc"
