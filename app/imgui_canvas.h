// ImGuiCanvas: a QOpenGLWidget that hosts one Dear ImGui 1.86 context and draws it with ImGui's
// OpenGL3 backend. The host gives it a frame function that draws the current view into a
// full-canvas window; the canvas owns the ImGui context, fonts, input and the repaint policy.
//
// Repaints: Qt repaints on input and resize; the canvas asks for a few more frames after each
// input (ImGui's hover and click states settle one frame late) and keeps repainting while queued
// input remains, an item is active (a drag), or the host asked for animation frames. Idle, it
// draws nothing.
#pragma once

#include <functional>

#include <QElapsedTimer>
#include <QImage>
#include <QOpenGLWidget>

#include "app/imgui_input_queue.h"
#include "views/theme.h"

struct ImGuiContext;

namespace ms::app {

class ImGuiCanvas : public QOpenGLWidget {
  Q_OBJECT

 public:
  // Draws one frame's content into the current ImGui window (which fills the canvas).
  using FrameFunction = std::function<void()>;

  explicit ImGuiCanvas(QWidget* parent = nullptr);
  ~ImGuiCanvas() override;

  void setFrameFunction(FrameFunction frame);
  // Redraws for at least `frames` more frames (animations, or after the content changed).
  void requestFrames(int frames = 2);
  // Screenshot mode ignores the pointer so a stray cursor cannot highlight anything.
  void setInputEnabled(bool enabled);
  // Renders `frames` frames now (ImGui lays out on the first) and returns the last one.
  QImage renderNow(int frames = 3);
  bool isInitialized() const { return m_context != nullptr; }
  // The views' size: 1 normally, views::kPresentationScale in the teaching tour's presentation
  // mode. Fonts are rasterised again at that size (sharp on a projector, unlike ImGui's
  // FontGlobalScale) and the style's paddings scale with them, before the next frame.
  void setUiScale(float scale);
  float uiScale() const { return m_uiScale; }
  // The pixel size of the body font the last frame was drawn with (0 before the first frame).
  float bodyFontSize() const;

  // What one paintGL cost, for --frame-stats (app/frame_stats.h): steady-clock start, then wall
  // and this thread's CPU time of building the ImGui frame (our views' drawing code) and of
  // handing it to GL (clear + the backend's draw calls; the rasteriser may finish later).
  struct FrameTiming {
    qint64 startNs = 0, buildNs = 0, buildCpuNs = 0, submitNs = 0, submitCpuNs = 0;
    qint64 endThreadCpuNs = 0;  // this thread's CPU clock at the end: what the swap costs it follows
  };
  void setFrameObserver(std::function<void(const FrameTiming&)> observer) { m_observer = std::move(observer); }
  // GL_RENDERER and GL_VERSION of the context (empty before initializeGL).
  const QString& glRenderer() const { return m_glRenderer; }
  const QString& glVersion() const { return m_glVersion; }

 protected:
  void initializeGL() override;
  void paintGL() override;

  bool event(QEvent* event) override;
  void mouseMoveEvent(QMouseEvent* event) override;
  void mousePressEvent(QMouseEvent* event) override;
  void mouseReleaseEvent(QMouseEvent* event) override;
  void mouseDoubleClickEvent(QMouseEvent* event) override;
  void wheelEvent(QWheelEvent* event) override;
  void keyPressEvent(QKeyEvent* event) override;
  void keyReleaseEvent(QKeyEvent* event) override;
  void leaveEvent(QEvent* event) override;

 private:
  void shutdown();
  void loadFonts();  // at m_uiScale, into the current context's atlas
  void scheduleRepaint();
  void onInput();

  ImGuiContext* m_context = nullptr;
  views::Theme m_theme;            // lives here; ImGuiIO::UserData points at it
  ImGuiInputQueue m_input;
  FrameFunction m_frame;
  std::function<void(const FrameTiming&)> m_observer;
  QString m_glRenderer, m_glVersion;
  QElapsedTimer m_clock;
  int m_extraFrames = 0;
  float m_uiScale = 1.0f;
  float m_fontScale = 0.0f;        // the scale the atlas was built at (0: none yet)
  bool m_inputEnabled = true;
  bool m_repaintScheduled = false;
  qint64 m_lastPaintStartNs = 0;  // steady clock, for the frame period
};

}  // namespace ms::app
