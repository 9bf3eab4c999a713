// ImGuiInputQueue (see imgui_input_queue.h).
#include "app/imgui_input_queue.h"

#include <cfloat>

#include <imgui.h>

namespace ms::app {

void ImGuiInputQueue::mouseMove(QPointF pos) {
  // Consecutive moves collapse: only the latest position matters within a frame.
  if (!m_events.empty() && m_events.back().kind == Kind::Move) {
    m_events.back().pos = pos;
    return;
  }
  Event e;
  e.kind = Kind::Move;
  e.pos = pos;
  m_events.push_back(e);
}

void ImGuiInputQueue::mouseLeave() {
  Event e;
  e.kind = Kind::Leave;
  m_events.push_back(e);
}

void ImGuiInputQueue::mouseButton(Qt::MouseButton button, bool down, QPointF pos) {
  const int index = buttonIndex(button);
  if (index < 0) return;
  mouseMove(pos);  // the press happens where the pointer is, even without an earlier move
  Event e;
  e.kind = Kind::Button;
  e.index = index;
  e.down = down;
  m_events.push_back(e);
}

void ImGuiInputQueue::wheel(float dx, float dy) {
  Event e;
  e.kind = Kind::Wheel;
  e.dx = dx;
  e.dy = dy;
  m_events.push_back(e);
}

void ImGuiInputQueue::key(int qtKey, bool down, Qt::KeyboardModifiers modifiers) {
  this->modifiers(modifiers);
  const int index = keyIndex(qtKey);
  if (index < 0) return;
  Event e;
  e.kind = Kind::Key;
  e.index = index;
  e.down = down;
  m_events.push_back(e);
}

void ImGuiInputQueue::text(const QString& text) {
  if (text.isEmpty()) return;
  Event e;
  e.kind = Kind::Text;
  e.text = text;
  m_events.push_back(e);
}

void ImGuiInputQueue::modifiers(Qt::KeyboardModifiers modifiers) {
  Event e;
  e.kind = Kind::Modifiers;
  e.modifiers = modifiers;
  m_events.push_back(e);
}

bool ImGuiInputQueue::applyTo(ImGuiIO& io) {
  // Which buttons/keys already changed this frame; a second change waits for the next frame.
  bool button_changed[5] = {};
  bool key_changed[ImGuiKey_COUNT] = {};
  while (!m_events.empty()) {
    const Event& e = m_events.front();
    switch (e.kind) {
      case Kind::Move:
        io.MousePos = ImVec2(static_cast<float>(e.pos.x()), static_cast<float>(e.pos.y()));
        break;
      case Kind::Leave:
        io.MousePos = ImVec2(-FLT_MAX, -FLT_MAX);
        break;
      case Kind::Button:
        if (button_changed[e.index]) return true;
        button_changed[e.index] = true;
        io.MouseDown[e.index] = e.down;
        break;
      case Kind::Wheel:
        io.MouseWheel += e.dy;
        io.MouseWheelH += e.dx;
        break;
      case Kind::Key:
        if (key_changed[e.index]) return true;
        key_changed[e.index] = true;
        io.KeysDown[e.index] = e.down;
        break;
      case Kind::Text:
        for (const QChar c : e.text)
          if (c.isPrint()) io.AddInputCharacterUTF16(c.unicode());
        break;
      case Kind::Modifiers:
        io.KeyCtrl = e.modifiers.testFlag(Qt::ControlModifier);
        io.KeyShift = e.modifiers.testFlag(Qt::ShiftModifier);
        io.KeyAlt = e.modifiers.testFlag(Qt::AltModifier);
        io.KeySuper = e.modifiers.testFlag(Qt::MetaModifier);
        break;
    }
    m_events.pop_front();
  }
  return false;
}

void ImGuiInputQueue::setupKeyMap(ImGuiIO& io) {
  for (int k = 0; k < ImGuiKey_COUNT; ++k) io.KeyMap[k] = k;
}

int ImGuiInputQueue::keyIndex(int qtKey) {
  switch (qtKey) {
    case Qt::Key_Tab: case Qt::Key_Backtab: return ImGuiKey_Tab;
    case Qt::Key_Left: return ImGuiKey_LeftArrow;
    case Qt::Key_Right: return ImGuiKey_RightArrow;
    case Qt::Key_Up: return ImGuiKey_UpArrow;
    case Qt::Key_Down: return ImGuiKey_DownArrow;
    case Qt::Key_PageUp: return ImGuiKey_PageUp;
    case Qt::Key_PageDown: return ImGuiKey_PageDown;
    case Qt::Key_Home: return ImGuiKey_Home;
    case Qt::Key_End: return ImGuiKey_End;
    case Qt::Key_Insert: return ImGuiKey_Insert;
    case Qt::Key_Delete: return ImGuiKey_Delete;
    case Qt::Key_Backspace: return ImGuiKey_Backspace;
    case Qt::Key_Space: return ImGuiKey_Space;
    case Qt::Key_Return: return ImGuiKey_Enter;
    case Qt::Key_Enter: return ImGuiKey_KeyPadEnter;
    case Qt::Key_Escape: return ImGuiKey_Escape;
    case Qt::Key_A: return ImGuiKey_A;
    case Qt::Key_C: return ImGuiKey_C;
    case Qt::Key_V: return ImGuiKey_V;
    case Qt::Key_X: return ImGuiKey_X;
    case Qt::Key_Y: return ImGuiKey_Y;
    case Qt::Key_Z: return ImGuiKey_Z;
    default: return -1;
  }
}

int ImGuiInputQueue::buttonIndex(Qt::MouseButton button) {
  switch (button) {
    case Qt::LeftButton: return 0;
    case Qt::RightButton: return 1;
    case Qt::MiddleButton: return 2;
    default: return -1;
  }
}

}  // namespace ms::app
