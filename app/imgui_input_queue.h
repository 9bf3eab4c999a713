// ImGuiInputQueue: Qt input events, queued and fed to Dear ImGui 1.86 one frame at a time.
//
// ImGui 1.86 has no input event queue: it samples io.MouseDown[] and io.KeysDown[] once per
// NewFrame(). A press and its release arriving between two frames (a quick click, or a click while
// a frame is slow) would cancel out and be lost. So events wait here in order, and applyTo() moves
// them into ImGuiIO until a second change of the same button or key would be needed in the same
// frame; the rest waits for the next frame, which the host must then request (hasPending()).
// Mouse moves, wheel steps and typed characters never block. No Qt widget here: testable without GL.
#pragma once

#include <deque>

#include <QPointF>
#include <QString>
#include <Qt>

struct ImGuiIO;

namespace ms::app {

class ImGuiInputQueue {
 public:
  void mouseMove(QPointF pos);
  void mouseButton(Qt::MouseButton button, bool down, QPointF pos);
  void mouseLeave();                       // pointer left the canvas: nothing is hovered
  void wheel(float dx, float dy);          // in wheel steps (120 Qt units = 1)
  void key(int qtKey, bool down, Qt::KeyboardModifiers modifiers);
  void text(const QString& text);          // typed characters
  void modifiers(Qt::KeyboardModifiers modifiers);

  // Applies queued events for one frame. Returns true when events remain for the next frame.
  bool applyTo(ImGuiIO& io);
  bool hasPending() const { return !m_events.empty(); }
  void clear() { m_events.clear(); }

  // io.KeyMap: which KeysDown[] index stands for each ImGuiKey_. We use the ImGuiKey_ value itself.
  static void setupKeyMap(ImGuiIO& io);
  // The KeysDown[] index of a Qt key, or -1 when ImGui does not need it.
  static int keyIndex(int qtKey);
  // 0 = left, 1 = right, 2 = middle; -1 for other buttons.
  static int buttonIndex(Qt::MouseButton button);

 private:
  enum class Kind { Move, Leave, Button, Wheel, Key, Text, Modifiers };
  struct Event {
    Kind kind = Kind::Move;
    QPointF pos;
    int index = -1;       // button or key index
    bool down = false;
    float dx = 0, dy = 0;
    QString text;
    Qt::KeyboardModifiers modifiers;
  };
  std::deque<Event> m_events;
};

}  // namespace ms::app
