// ImGuiCanvas (see imgui_canvas.h).
#include "app/imgui_canvas.h"

#include <algorithm>
#include <chrono>
#include <ctime>

#include <QKeyEvent>
#include <QMouseEvent>
#include <QOpenGLContext>
#include <QOpenGLFunctions>
#include <QTimer>
#include <QWheelEvent>

#include <imgui.h>
#include <backends/imgui_impl_opengl3.h>  // Debian: /usr/include/imgui/backends

namespace ms::app {
namespace {

// Debian's fonts-dejavu-core; MAMBASCOPE_FONT_DIR overrides it (other distributions, tests of the
// fallback to ImGui's built-in font).
QString fontDirectory() {
  const QByteArray env = qgetenv("MAMBASCOPE_FONT_DIR");
  return env.isEmpty() ? QStringLiteral("/usr/share/fonts/truetype/dejavu") : QString::fromLocal8Bit(env);
}

qint64 steadyNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

qint64 threadCpuNs() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<qint64>(t.tv_sec) * 1000000000 + t.tv_nsec;
}

}  // namespace

ImGuiCanvas::ImGuiCanvas(QWidget* parent) : QOpenGLWidget(parent) {
  setMouseTracking(true);               // hover highlights need moves without a pressed button
  setFocusPolicy(Qt::StrongFocus);      // keys (Page Up/Down) reach ImGui after a click
  setMinimumSize(320, 240);
}

ImGuiCanvas::~ImGuiCanvas() { shutdown(); }

void ImGuiCanvas::setFrameFunction(FrameFunction frame) {
  m_frame = std::move(frame);
  requestFrames();
}

void ImGuiCanvas::requestFrames(int frames) {
  m_extraFrames = std::max(m_extraFrames, frames);
  update();
}

void ImGuiCanvas::setInputEnabled(bool enabled) {
  m_inputEnabled = enabled;
  if (!enabled) {
    m_input.clear();
    m_input.mouseLeave();
  }
}

QImage ImGuiCanvas::renderNow(int frames) {
  QImage image;
  // grabFramebuffer() initialises GL when needed and renders one frame into the widget's FBO.
  for (int i = 0; i < std::max(frames, 1); ++i) image = grabFramebuffer();
  return image;
}

void ImGuiCanvas::initializeGL() {
  shutdown();  // a new GL context (the widget moved to another window) needs a new backend
  // The context goes away before the widget when it is reparented; tear down with it.
  connect(context(), &QOpenGLContext::aboutToBeDestroyed, this, &ImGuiCanvas::shutdown,
          Qt::UniqueConnection);

  m_context = ImGui::CreateContext();
  ImGui::SetCurrentContext(m_context);
  ImGuiIO& io = ImGui::GetIO();
  io.IniFilename = nullptr;  // Qt's QSettings remembers layout; no imgui.ini next to the user's files
  io.LogFilename = nullptr;
  io.BackendPlatformName = "mambascope_qt";
  ImGuiInputQueue::setupKeyMap(io);

  loadFonts();

  const QSurfaceFormat format = context()->format();
  const bool core33 = !context()->isOpenGLES() &&
                      (format.majorVersion() > 3 || (format.majorVersion() == 3 && format.minorVersion() >= 3));
  ImGui_ImplOpenGL3_Init(core33 ? "#version 330 core" : "#version 130");
  const auto glString = [this](GLenum name) {
    return QString::fromLatin1(reinterpret_cast<const char*>(context()->functions()->glGetString(name)));
  };
  m_glRenderer = glString(GL_RENDERER);
  m_glVersion = glString(GL_VERSION);
  m_clock.start();
}

void ImGuiCanvas::loadFonts() {
  // Fonts are rasterised at the UI scale; io.DisplayFramebufferScale maps them to device pixels.
  ImGuiIO& io = ImGui::GetIO();
  io.Fonts->Clear();
  m_theme = views::load_theme_fonts(*io.Fonts, fontDirectory().toStdString(), m_uiScale);
  io.FontDefault = m_theme.body;
  io.UserData = &m_theme;
  views::apply_style(m_uiScale);
  m_fontScale = m_uiScale;
}

void ImGuiCanvas::setUiScale(float scale) {
  m_uiScale = std::clamp(scale, 0.5f, 3.0f);
  requestFrames();
}

float ImGuiCanvas::bodyFontSize() const {
  return m_context && m_theme.body ? m_theme.body->FontSize : 0.0f;
}

void ImGuiCanvas::shutdown() {
  if (!m_context) return;
  const bool haveContext = context() && context()->isValid();
  if (haveContext) makeCurrent();
  ImGui::SetCurrentContext(m_context);
  if (haveContext) ImGui_ImplOpenGL3_Shutdown();
  ImGui::DestroyContext(m_context);
  m_context = nullptr;
  if (haveContext) doneCurrent();
}

void ImGuiCanvas::paintGL() {
  m_lastPaintStartNs = steadyNs();
  if (!m_context) return;
  FrameTiming timing;
  qint64 cpu = 0;
  if (m_observer) {
    timing.startNs = steadyNs();
    cpu = threadCpuNs();
  }
  ImGui::SetCurrentContext(m_context);
  ImGuiIO& io = ImGui::GetIO();
  const qreal dpr = devicePixelRatioF();
  io.DisplaySize = ImVec2(static_cast<float>(width()), static_cast<float>(height()));
  io.DisplayFramebufferScale = ImVec2(static_cast<float>(dpr), static_cast<float>(dpr));
  // Seconds since the previous frame; ImGui asserts on zero.
  io.DeltaTime = std::max(static_cast<float>(static_cast<double>(m_clock.nsecsElapsed()) * 1e-9), 1e-4f);
  m_clock.restart();
  const bool morePending = m_input.applyTo(io);
  if (m_fontScale != m_uiScale) {
    loadFonts();
    ImGui_ImplOpenGL3_DestroyDeviceObjects();  // NewFrame below uploads the new atlas
  }

  ImGui_ImplOpenGL3_NewFrame();
  ImGui::NewFrame();
  ImGui::SetNextWindowPos(ImVec2(0, 0));
  ImGui::SetNextWindowSize(io.DisplaySize);
  const ImGuiWindowFlags flags = ImGuiWindowFlags_NoDecoration | ImGuiWindowFlags_NoMove |
                                 ImGuiWindowFlags_NoSavedSettings | ImGuiWindowFlags_NoBringToFrontOnFocus;
  ImGui::Begin("##canvas", nullptr, flags);
  if (m_frame) m_frame();
  ImGui::End();
  ImGui::Render();
  qint64 built = 0;
  if (m_observer) {
    built = steadyNs();
    timing.buildNs = built - timing.startNs;
    const qint64 cpuBuilt = threadCpuNs();
    timing.buildCpuNs = cpuBuilt - cpu;
    cpu = cpuBuilt;
  }

  QOpenGLFunctions* gl = context()->functions();
  gl->glViewport(0, 0, static_cast<int>(width() * dpr), static_cast<int>(height() * dpr));
  const ImVec4 bg = ImGui::ColorConvertU32ToFloat4(views::im_colour(views::Palette::background));
  gl->glClearColor(bg.x, bg.y, bg.z, 1.0f);
  gl->glClear(GL_COLOR_BUFFER_BIT);
  ImGui_ImplOpenGL3_RenderDrawData(ImGui::GetDrawData());
  if (m_observer) {
    timing.submitNs = steadyNs() - built;
    timing.endThreadCpuNs = threadCpuNs();
    timing.submitCpuNs = timing.endThreadCpuNs - cpu;
    m_observer(timing);
  }

  if (m_extraFrames > 0) --m_extraFrames;
  if (morePending || m_extraFrames > 0 || ImGui::IsAnyItemActive()) scheduleRepaint();
}

void ImGuiCanvas::scheduleRepaint() {
  if (m_repaintScheduled) return;
  m_repaintScheduled = true;
  // 60 frames per second at most, the period counted from the last frame's start so that a
  // frame's own cost does not stretch it (16 ms after its end gave at most 1000 / (16 + cost));
  // update() itself coalesces with Qt's own repaints.
  const qint64 sinceStartMs = (steadyNs() - m_lastPaintStartNs) / 1000000;
  const int waitMs = static_cast<int>(std::clamp<qint64>(16 - sinceStartMs, 0, 16));
  QTimer::singleShot(waitMs, this, [this] {
    m_repaintScheduled = false;
    update();
  });
}

void ImGuiCanvas::onInput() {
  requestFrames(2);  // hover and click states settle one frame after the event
}

bool ImGuiCanvas::event(QEvent* event) {
  if (event->type() == QEvent::FocusOut) {
    m_input.modifiers(Qt::NoModifier);  // released modifiers may never reach us once focus is gone
    onInput();
  }
  return QOpenGLWidget::event(event);
}

void ImGuiCanvas::mouseMoveEvent(QMouseEvent* event) {
  if (!m_inputEnabled) return;
  m_input.mouseMove(event->position());
  onInput();
}

void ImGuiCanvas::mousePressEvent(QMouseEvent* event) {
  if (!m_inputEnabled) return;
  m_input.mouseButton(event->button(), true, event->position());
  onInput();
}

void ImGuiCanvas::mouseReleaseEvent(QMouseEvent* event) {
  if (!m_inputEnabled) return;
  m_input.mouseButton(event->button(), false, event->position());
  onInput();
}

void ImGuiCanvas::mouseDoubleClickEvent(QMouseEvent* event) {
  // Qt sends press, release, double-click, release; ImGui detects double clicks itself from two
  // presses, so the double-click is a press.
  mousePressEvent(event);
}

void ImGuiCanvas::wheelEvent(QWheelEvent* event) {
  if (!m_inputEnabled) return;
  m_input.wheel(event->angleDelta().x() / 120.0f, event->angleDelta().y() / 120.0f);
  onInput();
}

void ImGuiCanvas::keyPressEvent(QKeyEvent* event) {
  if (!m_inputEnabled) return;
  m_input.key(event->key(), true, event->modifiers());
  m_input.text(event->text());
  onInput();
}

void ImGuiCanvas::keyReleaseEvent(QKeyEvent* event) {
  if (!m_inputEnabled) return;
  m_input.key(event->key(), false, event->modifiers());
  onInput();
}

void ImGuiCanvas::leaveEvent(QEvent* event) {
  m_input.mouseLeave();
  onInput();
  QOpenGLWidget::leaveEvent(event);
}

}  // namespace ms::app
