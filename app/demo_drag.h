// DemoDrag: `mambascope --demo-drag SECONDS`, a scripted drag for measuring frames per second
// while dragging (issue 6; tests/bench/app_frames.sh). Once the error view shows its first result,
// it holds the Quantization dock's W slider down and moves it one step every 16 ms, back and forth
// over every width 2..16, for SECONDS: each step is a requant request (latest wins), as a mouse drag
// of that slider makes. Each step also asks the canvas for a frame, as ImGui does while one of its
// own items is dragged, so the canvas draws as often as it can while results stream in. Then it
// releases the slider, hands its counts to FrameStats and quits the app. No QTest: plain slider
// calls, so it runs in the shipped binary.
#pragma once

#include <QElapsedTimer>
#include <QObject>
#include <QTimer>

namespace ms::app {

class FrameStats;
class MainWindow;

class DemoDrag : public QObject {
  Q_OBJECT

 public:
  DemoDrag(MainWindow* window, double seconds, FrameStats* stats, QObject* parent = nullptr);

 Q_SIGNALS:
  // 0 when the drag ran; 1 and a one-line reason when the error view never produced a result.
  void finished(int code, const QString& error);

 private:
  void start();
  void step();
  void stop();

  MainWindow* m_window;
  double m_seconds;
  FrameStats* m_stats;
  QTimer m_timer;
  QElapsedTimer m_clock;
  double m_startMs = 0;
  int m_direction = 1;
  int m_steps = 0;
  int m_results = 0;  // error-view results that arrived during the drag
  bool m_started = false;
};

}  // namespace ms::app
