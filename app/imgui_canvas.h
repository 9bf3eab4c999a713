// ImGuiCanvas: a widget that hosts one Dear ImGui 1.86 context and draws it with ImGui's OpenGL3
// backend. The host gives it a frame function that draws the current view into a full-canvas
// window; the canvas owns the ImGui context, its GL context, fonts, input and the repaint policy.
//
// Why not a QOpenGLWidget: with one in the window, Qt composes the whole top-level window through
// GL on every frame and on every repaint of any widget (a slider moving). Under software GL
// (llvmpipe, our CPU machines) that compose cost ~20 ms per frame at 1400x900 and held dragging
// to 22 frames/s. Here the canvas draws into a native child window (a QWindow in a window
// container) that swaps on its own, and the other widgets keep Qt's raster backing store. The
// child window is transparent for input: pointer and keys reach this widget as for any other, so
// focus, shortcuts and QTest's synthetic events behave as before. Images (screenshots, tests) are
// rendered into a framebuffer object with the same GL context.
//
// Repaints: Qt repaints on input and resize; the canvas asks for a few more frames after each
// input (ImGui's hover and click states settle one frame late) and keeps repainting while queued
// input remains, an item is active (a drag), or the host asked for animation frames. Idle, it
// draws nothing.
#pragma once

#include <functional>

#include <QElapsedTimer>
#include <QImage>
#include <QWidget>

#include "app/imgui_input_queue.h"
#include "views/theme.h"

struct ImGuiContext;
class QOffscreenSurface;
class QOpenGLContext;

namespace ms::app {

class CanvasSurface;

class ImGuiCanvas : public QWidget {
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
  // GL_RENDERER and GL_VERSION of the context (empty before the first frame).
  const QString& glRenderer() const { return m_glRenderer; }
  const QString& glVersion() const { return m_glVersion; }

 Q_SIGNALS:
  // A frame reached the screen (the child window swapped); frames rendered by renderNow do not.
  void frameSwapped();

 protected:
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
  friend class CanvasSurface;
  // Creates the GL context and the ImGui context once; false where the platform has no OpenGL.
  bool initialize();
  void shutdown();
  void loadFonts();  // at m_uiScale, into the current context's atlas
  // Builds one ImGui frame and draws it into the framebuffer bound now, `pixels` large.
  void renderFrame(QSize pixels);
  void paintOnScreen();  // the child window is exposed or asked for a frame: draw it and swap
  void requestSurfaceFrame();  // a frame is due on the child window (when it is exposed)
  void scheduleRepaint();
  void onInput();

  CanvasSurface* m_surface = nullptr;      // owned by its window container, a child of this widget
  QWidget* m_container = nullptr;
  QOpenGLContext* m_gl = nullptr;          // child of this widget
  QOffscreenSurface* m_offscreen = nullptr;  // for renderNow before (or without) the window
  bool m_glFailed = false;
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
