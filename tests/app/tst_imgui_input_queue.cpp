// ImGuiInputQueue against a real ImGui 1.86 context (no GL needed): a click that starts and ends
// between two frames takes two frames instead of vanishing; moves collapse; keys, modifiers and
// typed text reach ImGuiIO.
#include <cfloat>

#include <QtTest>

#include <imgui.h>

#include "app/imgui_input_queue.h"

using ms::app::ImGuiInputQueue;

class TestImGuiInputQueue : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void init() {
    m_context = ImGui::CreateContext();
    ImGui::SetCurrentContext(m_context);
  }
  void cleanup() { ImGui::DestroyContext(m_context); }

  void quickClickSpansTwoFrames() {
    ImGuiIO& io = ImGui::GetIO();
    ImGuiInputQueue q;
    q.mouseButton(Qt::LeftButton, true, QPointF(10, 20));
    q.mouseButton(Qt::LeftButton, false, QPointF(10, 20));
    QVERIFY(q.applyTo(io));          // the release waits
    QVERIFY(io.MouseDown[0]);
    QCOMPARE(io.MousePos.x, 10.0f);
    QCOMPARE(io.MousePos.y, 20.0f);
    QVERIFY(!q.applyTo(io));
    QVERIFY(!io.MouseDown[0]);
    QVERIFY(!q.hasPending());
  }

  void differentButtonsShareAFrame() {
    ImGuiIO& io = ImGui::GetIO();
    ImGuiInputQueue q;
    q.mouseButton(Qt::LeftButton, true, QPointF(1, 1));
    q.mouseButton(Qt::RightButton, true, QPointF(1, 1));
    q.mouseButton(Qt::ExtraButton1, true, QPointF(1, 1));  // ImGui has no use for it: ignored
    QVERIFY(!q.applyTo(io));
    QVERIFY(io.MouseDown[0]);
    QVERIFY(io.MouseDown[1]);
  }

  void movesCollapseAndLeaveClears() {
    ImGuiIO& io = ImGui::GetIO();
    ImGuiInputQueue q;
    q.mouseMove(QPointF(1, 2));
    q.mouseMove(QPointF(3, 4));
    q.mouseMove(QPointF(5, 6));
    QVERIFY(!q.applyTo(io));
    QCOMPARE(io.MousePos.x, 5.0f);
    q.mouseLeave();
    QVERIFY(!q.applyTo(io));
    QCOMPARE(io.MousePos.x, -FLT_MAX);
  }

  void keysModifiersAndText() {
    ImGuiIO& io = ImGui::GetIO();
    ImGuiInputQueue::setupKeyMap(io);
    ImGuiInputQueue q;
    q.key(Qt::Key_PageDown, true, Qt::ControlModifier);
    q.key(Qt::Key_PageDown, false, Qt::ControlModifier);
    q.text(QStringLiteral("aΔ"));
    QVERIFY(q.applyTo(io));          // the key release waits for the next frame
    QVERIFY(io.KeysDown[io.KeyMap[ImGuiKey_PageDown]]);
    QVERIFY(io.KeyCtrl);
    QVERIFY(!io.KeyShift);
    QVERIFY(!q.applyTo(io));
    QVERIFY(!io.KeysDown[io.KeyMap[ImGuiKey_PageDown]]);
    QCOMPARE(io.InputQueueCharacters.Size, 2);
    QCOMPARE(static_cast<int>(io.InputQueueCharacters[1]), 0x0394);
    QCOMPARE(ImGuiInputQueue::keyIndex(Qt::Key_F13), -1);
  }

  void wheelAccumulates() {
    ImGuiIO& io = ImGui::GetIO();
    ImGuiInputQueue q;
    q.wheel(0.0f, 1.0f);
    q.wheel(0.5f, 1.0f);
    QVERIFY(!q.applyTo(io));
    QCOMPARE(io.MouseWheel, 2.0f);
    QCOMPARE(io.MouseWheelH, 0.5f);
  }

 private:
  ImGuiContext* m_context = nullptr;
};

QTEST_GUILESS_MAIN(TestImGuiInputQueue)
#include "tst_imgui_input_queue.moc"
