// main() for the app tests that draw with OpenGL. CTest runs every app test on the offscreen
// platform, which has no OpenGL windows; with an X display (xvfb-run) these tests ask for
// xcb instead.
#pragma once

#include <QApplication>
#include <QtTest>

#define MS_GL_TEST_MAIN(TestClass)                                              \
  int main(int argc, char** argv) {                                             \
    if (!qEnvironmentVariableIsEmpty("DISPLAY")) qputenv("QT_QPA_PLATFORM", "xcb"); \
    QApplication app(argc, argv);                                               \
    TestClass test;                                                             \
    return QTest::qExec(&test, argc, argv);                                     \
  }
