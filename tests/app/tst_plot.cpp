// The plotting layer's arithmetic, without GL: tick choice on log axes that span many decades,
// axis fractions, zoom windows, and what heatmap_values and bars put into an ImDrawList (read back
// from its vertices) — every pixel column of a heatmap narrower than its data shows the largest
// value it covers, a transposed map draws the same cells, and a zoomed axis draws only its window.
#include <QtTest>

#include <imgui.h>

#include "views/plot.h"

using namespace ms::views;

namespace {

// A headless ImGui frame with one window to draw into (no renderer: the draw list is inspected).
struct Frame {
  Frame() {
    context = ImGui::CreateContext();
    ImGuiIO& io = ImGui::GetIO();
    io.DisplaySize = ImVec2(400, 300);
    io.IniFilename = nullptr;
    unsigned char* pixels = nullptr;
    int w = 0, h = 0;
    io.Fonts->GetTexDataAsRGBA32(&pixels, &w, &h);
    ImGui::NewFrame();
    ImGui::SetNextWindowPos(ImVec2(0, 0));
    ImGui::SetNextWindowSize(io.DisplaySize);
    ImGui::Begin("test", nullptr, ImGuiWindowFlags_NoDecoration);
    dl = ImGui::GetWindowDrawList();
    start = dl->VtxBuffer.Size;
  }
  ~Frame() {
    ImGui::End();
    ImGui::EndFrame();
    ImGui::DestroyContext(context);
  }
  // The filled rectangles added since construction: (top-left, colour), in drawing order.
  std::vector<std::pair<ImVec2, ImU32>> rects() const {
    std::vector<std::pair<ImVec2, ImU32>> out;
    for (int i = start; i + 3 < dl->VtxBuffer.Size; i += 4) out.emplace_back(dl->VtxBuffer[i].pos, dl->VtxBuffer[i].col);
    return out;
  }
  ImGuiContext* context = nullptr;
  ImDrawList* dl = nullptr;
  int start = 0;
};

plot::Frame data_area(ImDrawList* dl, ImVec2 min, ImVec2 max, plot::Axis x, plot::Axis y) {
  plot::Frame f;
  f.dl = dl;
  f.min = min;
  f.max = max;
  f.x = x;
  f.y = y;
  return f;
}

}  // namespace

class TestPlot : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void logTicksThinOutOverManyDecades() {
    const plot::Axis axis{1e-8, 100.0, plot::Scale::Log};
    // Ten decades in room for three labels: every fourth decade, on multiples of four.
    QCOMPARE(plot::ticks(axis, 3), (std::vector<double>{1e-8, 1e-4, 1.0}));
    QCOMPARE(static_cast<int>(plot::ticks(axis, 20).size()), 11);  // room for all: every decade
    // Two decades: 1, 2, 5 in each.
    const std::vector<double> fine = plot::ticks(plot::Axis{0.01, 1.0, plot::Scale::Log}, 3);
    QCOMPARE(static_cast<int>(fine.size()), 7);
    QCOMPARE(fine[1], 0.02);
  }

  void fractionsAndZoom() {
    QCOMPARE(plot::axis_fraction(plot::Axis{0.01, 100.0, plot::Scale::Log}, 1.0), 0.5);
    QCOMPARE(plot::axis_fraction(plot::Axis{0.0, 8.0}, 2.0), 0.25);
    const plot::Axis z = plot::zoomed(plot::Axis{-0.5, 511.5}, plot::Zoom{0.25, 0.5});
    QCOMPARE(z.min, 127.5);
    QCOMPARE(z.max, 255.5);
    QVERIFY(!plot::Zoom{}.zoomed());
    QVERIFY((plot::Zoom{0.0, 0.9}.zoomed()));
  }

  void heatmapPoolsByMaxPerPixel() {
    Frame frame;
    // 2 rows × 40 columns over 10 pixels: 4 columns a pixel. Row 0 rises (value = column), row 1
    // falls, so each pixel's max is its last column in row 0 and its first in row 1.
    std::vector<float> values(80);
    for (int c = 0; c < 40; ++c) {
      values[static_cast<std::size_t>(c)] = static_cast<float>(c);
      values[static_cast<std::size_t>(40 + c)] = static_cast<float>(39 - c);
    }
    const plot::Axis scale{0.0, 39.0};
    const plot::Frame f = data_area(frame.dl, ImVec2(0, 0), ImVec2(10, 2), plot::Axis{-0.5, 39.5}, plot::Axis{1.5, -0.5});
    plot::heatmap_values(f, values.data(), 2, 40, scale);
    const auto rects = frame.rects();
    QCOMPARE(static_cast<int>(rects.size()), 20);
    for (int px = 0; px < 10; ++px) {
      const auto& top = rects[static_cast<std::size_t>(px * 2)];
      const auto& bottom = rects[static_cast<std::size_t>(px * 2 + 1)];
      QCOMPARE(top.first.x, static_cast<float>(px));
      QCOMPARE(top.second, plot::viridis((4.0f * px + 3.0f) / 39.0f));
      QCOMPARE(bottom.second, plot::viridis((39.0f - 4.0f * px) / 39.0f));
    }
    // The same map stored [cols, rows] and drawn transposed gives the same cells.
    std::vector<float> transposed(80);
    for (int r = 0; r < 2; ++r)
      for (int c = 0; c < 40; ++c)
        transposed[static_cast<std::size_t>(c * 2 + r)] = values[static_cast<std::size_t>(r * 40 + c)];
    const int before = frame.dl->VtxBuffer.Size;
    plot::heatmap_values(f, transposed.data(), 2, 40, scale, /*transposed=*/true);
    for (int i = 0; i < 80; ++i) QCOMPARE(frame.dl->VtxBuffer[before + i].col, frame.dl->VtxBuffer[frame.start + i].col);
  }

  void logColourScaleAndZeros() {
    Frame frame;
    // One row over 4 pixels, one column a pixel: 0 (never moved), 0.01, 1, 100 on [0.01, 100].
    const std::vector<float> values{0.0f, 0.01f, 1.0f, 100.0f};
    const plot::Frame f = data_area(frame.dl, ImVec2(0, 0), ImVec2(4, 1), plot::Axis{-0.5, 3.5}, plot::Axis{0.5, -0.5});
    plot::heatmap_values(f, values.data(), 1, 4, plot::Axis{0.01, 100.0, plot::Scale::Log});
    const auto rects = frame.rects();
    QCOMPARE(static_cast<int>(rects.size()), 4);
    QCOMPARE(rects[0].second, plot::viridis(0.0f));   // zero: the bottom colour, not a NaN
    QCOMPARE(rects[1].second, plot::viridis(0.0f));
    QCOMPARE(rects[2].second, plot::viridis(0.5f));
    QCOMPARE(rects[3].second, plot::viridis(1.0f));
  }

  void zoomedBarsDrawOnlyTheirWindow() {
    Frame frame;
    std::vector<float> values(100, 1.0f);
    // Indices 10..19 over 100 pixels: ten bars of 10 px, the first starting at pixel 0 (+ its gap).
    const plot::Frame f = data_area(frame.dl, ImVec2(0, 0), ImVec2(100, 50),
                                    plot::zoomed(plot::Axis{-0.5, 99.5}, plot::Zoom{0.1, 0.2}), plot::Axis{0.0, 1.0});
    plot::bars(f, values.data(), 100, 0xFFFFFFFF);
    const auto rects = frame.rects();
    QCOMPARE(static_cast<int>(rects.size()), 10);
    QCOMPARE(rects.front().first.x, 0.5f);
    QCOMPARE(rects.back().first.x, 90.5f);
  }
};

QTEST_GUILESS_MAIN(TestPlot)
#include "tst_plot.moc"
