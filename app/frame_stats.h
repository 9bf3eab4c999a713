// FrameStats: what `mambascope --frame-stats FILE.json` records, for issue 6's goals (cold start
// to first frame ≤ 1.5 s; 60 frames/s while dragging). A measurement, never a test: the bench
// script tests/bench/app_frames.sh reads the JSON.
//
// Cold start counts from the kernel's start time of the process (/proc/self/stat field 22, clock
// ticks since boot, against CLOCK_BOOTTIME), so the dynamic loading of Qt and its plugins before
// main() is included; main() → first frame is recorded too. A frame is "presented" when the
// canvas's window has swapped after the canvas painted (ImGuiCanvas::frameSwapped); frames that
// ImGuiCanvas::renderNow draws into an image are never presented.
//
// Per frame: the canvas's paint split into building the ImGui frame (our views) and submitting it
// to GL, each as wall and thread CPU time; the wall time from the end of the paint to the swap
// (the swap: where a software rasteriser finishes its work) and the GUI thread's CPU
// time in it (the rest is waiting: on llvmpipe's threads, the X server, a busy CPU); the interval from the
// previous presented frame; and the process's CPU time over that interval (all threads, llvmpipe's
// included). Written once, atomically (QSaveFile), when the app quits.
#pragma once

#include <vector>

#include <QJsonObject>
#include <QObject>
#include <QPointer>
#include <QString>

#include "app/imgui_canvas.h"

namespace ms::app {

class FrameStats : public QObject {
  Q_OBJECT

 public:
  // Call first thing in main(): the reference for "main() → ...".
  static void markMainEntered();

  explicit FrameStats(QString output, QObject* parent = nullptr);
  ~FrameStats() override;
  void attach(ImGuiCanvas* canvas);
  // The model is open: the next canvas paint is the first to show it.
  void markModelOpened();
  // Quits the app after `frames` frames presented with the model shown (counting that first one);
  // until then each presented frame asks the canvas for another.
  void setQuitAfterFrames(int frames) { m_quitAfterFrames = frames; }
  // What a scripted interaction (DemoDrag) adds: its time window and counts, under "drag".
  void setDrag(const QJsonObject& drag) { m_drag = drag; }
  // Milliseconds on the steady clock since markMainEntered().
  static double sinceMainMs();
  // Writes the JSON; returns an empty string or the one-line reason it could not.
  QString write() const;

 private:
  struct Frame {
    double startMs = 0, buildMs = 0, buildCpuMs = 0, submitMs = 0, submitCpuMs = 0;
    double presentedMs = -1, processCpuMs = 0;
    double paintEndThreadCpuMs = 0, presentCpuMs = 0;  // the GUI thread's CPU from paint end to the swap
    bool showsModel = false;
  };
  void onPainted(const ImGuiCanvas::FrameTiming& timing);
  void onSwapped();

  QString m_output;
  QPointer<ImGuiCanvas> m_canvas;
  std::vector<Frame> m_frames;
  bool m_paintPending = false;      // painted, not yet swapped
  double m_modelOpenedMs = -1;
  int m_quitAfterFrames = 0;
  int m_modelFramesPresented = 0;
  double m_lastProcessCpuMs = 0;
  QJsonObject m_drag;
};

}  // namespace ms::app
