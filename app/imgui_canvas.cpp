// ImGuiCanvas (see imgui_canvas.h).
#include "app/imgui_canvas.h"

#include <algorithm>
#include <chrono>
#include <ctime>

#include <QGuiApplication>
#include <QKeyEvent>
#include <QMouseEvent>
#include <QOffscreenSurface>
#include <QOpenGLContext>
#include <QOpenGLFramebufferObject>
#include <QOpenGLFunctions>
#include <QTimer>
#include <QVBoxLayout>
#include <QWheelEvent>
#include <QWindow>

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

// The native child window the canvas shows its frames in. It takes no input (the pointer passes
// through to the canvas widget beneath) and only tells the canvas when a frame is due.
class CanvasSurface : public QWindow {
 public:
  explicit CanvasSurface(ImGuiCanvas* canvas) : m_canvas(canvas) {
    setSurfaceType(QSurface::OpenGLSurface);
    setFormat(QSurfaceFormat::defaultFormat());
    setFlag(Qt::WindowTransparentForInput);
  }

 protected:
  void exposeEvent(QExposeEvent*) override {
    if (isExposed()) m_canvas->paintOnScreen();
  }
  bool event(QEvent* event) override {
    if (event->type() == QEvent::UpdateRequest) {
      m_canvas->paintOnScreen();
      return true;
    }
    return QWindow::event(event);
  }

 private:
  ImGuiCanvas* m_canvas;
};

ImGuiCanvas::ImGuiCanvas(QWidget* parent) : QWidget(parent) {
  setMouseTracking(true);               // hover highlights need moves without a pressed button
  setFocusPolicy(Qt::StrongFocus);      // keys (Page Up/Down) reach ImGui after a click
  setMinimumSize(320, 240);
  // The offscreen platform (CTest's default) has no OpenGL windows; renderNow says so by failing.
  if (QGuiApplication::platformName() == QLatin1String("offscreen")) return;
  m_surface = new CanvasSurface(this);
  m_container = QWidget::createWindowContainer(m_surface, this);
  m_container->setFocusPolicy(Qt::NoFocus);  // a click focuses this widget, which gets the keys
  m_container->setAttribute(Qt::WA_TransparentForMouseEvents);
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(m_container);
}

ImGuiCanvas::~ImGuiCanvas() { shutdown(); }

void ImGuiCanvas::setFrameFunction(FrameFunction frame) {
  m_frame = std::move(frame);
  requestFrames();
}

void ImGuiCanvas::requestFrames(int frames) {
  m_extraFrames = std::max(m_extraFrames, frames);
  requestSurfaceFrame();
}

void ImGuiCanvas::requestSurfaceFrame() {
  if (m_surface && m_surface->isExposed()) m_surface->requestUpdate();  // coalesced by Qt
}

void ImGuiCanvas::setInputEnabled(bool enabled) {
  m_inputEnabled = enabled;
  if (!enabled) {
    m_input.clear();
    m_input.mouseLeave();
  }
}

QImage ImGuiCanvas::renderNow(int frames) {
  if (!initialize() || !m_gl->makeCurrent(m_offscreen)) return {};
  const qreal dpr = devicePixelRatioF();
  const QSize pixels(std::max(1, static_cast<int>(width() * dpr)), std::max(1, static_cast<int>(height() * dpr)));
  QImage image;
  {
    QOpenGLFramebufferObject fbo(pixels);  // freed here, while the context is still current
    fbo.bind();
    for (int i = 0; i < std::max(frames, 1); ++i) renderFrame(pixels);
    image = fbo.toImage();
    fbo.release();
  }
  m_gl->doneCurrent();
  image.setDevicePixelRatio(dpr);
  return image;
}

bool ImGuiCanvas::initialize() {
  if (m_context) return true;
  if (m_glFailed || !m_surface) return false;
  m_gl = new QOpenGLContext(this);
  m_gl->setFormat(QSurfaceFormat::defaultFormat());
  m_offscreen = new QOffscreenSurface(nullptr, this);
  m_offscreen->setFormat(m_gl->format());
  m_offscreen->create();
  if (!m_gl->create() || !m_offscreen->isValid() || !m_gl->makeCurrent(m_offscreen)) {
    m_glFailed = true;
    qWarning("mambascope: no OpenGL context for the views (the driver refused %d.%d); the canvas stays empty",
             m_gl->format().majorVersion(), m_gl->format().minorVersion());
    return false;
  }
  m_context = ImGui::CreateContext();
  ImGui::SetCurrentContext(m_context);
  ImGuiIO& io = ImGui::GetIO();
  io.IniFilename = nullptr;  // Qt's QSettings remembers layout; no imgui.ini next to the user's files
  io.LogFilename = nullptr;
  io.BackendPlatformName = "mambascope_qt";
  ImGuiInputQueue::setupKeyMap(io);

  loadFonts();

  const QSurfaceFormat format = m_gl->format();
  const bool core33 = !m_gl->isOpenGLES() &&
                      (format.majorVersion() > 3 || (format.majorVersion() == 3 && format.minorVersion() >= 3));
  ImGui_ImplOpenGL3_Init(core33 ? "#version 330 core" : "#version 130");
  const auto glString = [this](GLenum name) {
    return QString::fromLatin1(reinterpret_cast<const char*>(m_gl->functions()->glGetString(name)));
  };
  m_glRenderer = glString(GL_RENDERER);
  m_glVersion = glString(GL_VERSION);
  m_clock.start();
  return true;
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
  const bool haveContext = m_gl->makeCurrent(m_offscreen);
  ImGui::SetCurrentContext(m_context);
  if (haveContext) ImGui_ImplOpenGL3_Shutdown();
  ImGui::DestroyContext(m_context);
  m_context = nullptr;
  if (haveContext) m_gl->doneCurrent();
}

void ImGuiCanvas::paintOnScreen() {
  if (!initialize() || !m_surface->isExposed() || !m_gl->makeCurrent(m_surface)) return;
  const qreal dpr = m_surface->devicePixelRatio();
  m_gl->functions()->glBindFramebuffer(GL_FRAMEBUFFER, m_gl->defaultFramebufferObject());
  renderFrame(QSize(static_cast<int>(m_surface->width() * dpr), static_cast<int>(m_surface->height() * dpr)));
  m_gl->swapBuffers(m_surface);
  Q_EMIT frameSwapped();
}

void ImGuiCanvas::renderFrame(QSize pixels) {
  m_lastPaintStartNs = steadyNs();
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

  QOpenGLFunctions* gl = m_gl->functions();
  gl->glViewport(0, 0, pixels.width(), pixels.height());
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
    requestSurfaceFrame();
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
  return QWidget::event(event);
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
  QWidget::leaveEvent(event);
}

}  // namespace ms::app
