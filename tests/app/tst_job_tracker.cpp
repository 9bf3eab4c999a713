// JobTracker: results arrive on the UI thread, superseded jobs are dropped (result, error and
// progress), errors arrive as their one-line message, ms::Cancelled is silent, and the tracker's
// destruction waits for running jobs without delivering to anyone.
#include <atomic>
#include <memory>
#include <thread>

#include <QSemaphore>
#include <QThread>
#include <QtTest>

#include "app/job_tracker.h"
#include "core/util/error.h"

using ms::app::JobTracker;

class TestJobTracker : public QObject {
  Q_OBJECT

 private Q_SLOTS:
  void deliversOnTrackerThread() {
    JobTracker tracker;
    int result = 0;
    QThread* deliveredOn = nullptr;
    QThread* ranOn = nullptr;
    const auto id = tracker.start([&](const JobTracker::Context&) { ranOn = QThread::currentThread(); return 42; },
                                  [&](int r) { result = r; deliveredOn = QThread::currentThread(); },
                                  [](const QString& e) { QFAIL(qPrintable(e)); });
    QCOMPARE(tracker.currentJob(), id);
    QTRY_COMPARE(result, 42);
    QCOMPARE(deliveredOn, QThread::currentThread());
    QVERIFY(ranOn != QThread::currentThread());
    QTRY_VERIFY(!tracker.isRunning());
  }

  void dropsSupersededResult() {
    JobTracker tracker;
    QSemaphore releaseFirst;
    std::atomic<bool> firstSawCancel{false};
    QStringList delivered;
    QSignalSpy progress(&tracker, &JobTracker::progressChanged);
    const auto first = tracker.start(
        [&](const JobTracker::Context& ctx) {
          releaseFirst.acquire();          // still running when the second job starts
          firstSawCancel = ctx.isCancelled();
          ctx.reportProgress(0.5);         // superseded: must not arrive
          return QStringLiteral("first");
        },
        [&](const QString& r) { delivered << r; }, [&](const QString& e) { delivered << e; });
    const auto second = tracker.start(
        [](const JobTracker::Context& ctx) {
          ctx.reportProgress(0.25);
          return QStringLiteral("second");
        },
        [&](const QString& r) { delivered << r; }, [&](const QString& e) { delivered << e; });
    QVERIFY(second > first);
    QTRY_COMPARE(delivered, QStringList{"second"});
    releaseFirst.release();
    QVERIFY(tracker.waitForIdle(5000));
    QTRY_VERIFY(!tracker.isRunning());
    QCoreApplication::processEvents();   // the first job's delivery is queued by now; it must drop
    QCOMPARE(delivered, QStringList{"second"});
    QVERIFY(firstSawCancel);
    QCOMPARE(progress.size(), 1);
    QCOMPARE(progress.at(0).at(0).toULongLong(), static_cast<qulonglong>(second));
    QCOMPARE(progress.at(0).at(1).toDouble(), 0.25);
  }

  void cancelDropsCurrent() {
    JobTracker tracker;
    bool called = false;
    QSemaphore go;
    tracker.start([&](const JobTracker::Context&) { go.acquire(); return 1; }, [&](int) { called = true; },
                  [&](const QString&) { called = true; });
    QVERIFY(tracker.isRunning());
    tracker.cancel();
    go.release();
    QTRY_VERIFY(!tracker.isRunning());
    QVERIFY(!called);
  }

  void errorsArriveAsMessage() {
    JobTracker tracker;
    QString error;
    bool gotResult = false;
    tracker.start([](const JobTracker::Context&) -> int { throw ms::InputError("/m/config.json", "not JSON"); },
                  [&](int) { gotResult = true; }, [&](const QString& e) { error = e; });
    QTRY_COMPARE(error, QStringLiteral("/m/config.json: not JSON"));
    QVERIFY(!gotResult);
  }

  void cancelledIsSilent() {
    JobTracker tracker;
    bool called = false;
    tracker.start([](const JobTracker::Context&) -> int { throw ms::Cancelled(); }, [&](int) { called = true; },
                  [&](const QString&) { called = true; });
    QTRY_VERIFY(!tracker.isRunning());
    QCoreApplication::processEvents();
    QVERIFY(!called);
  }

  void cancelPredicateFollowsSupersession() {
    JobTracker tracker;
    std::function<bool()> predicate;
    QSemaphore ready, go;
    tracker.start(
        [&](const JobTracker::Context& ctx) {
          predicate = ctx.cancelPredicate();
          ready.release();
          go.acquire();
          return 0;
        },
        [](int) {}, [](const QString&) {});
    ready.acquire();
    QVERIFY(!predicate());
    tracker.start([](const JobTracker::Context&) { return 0; }, [](int) {}, [](const QString&) {});
    QVERIFY(predicate());   // what core polls turns true as soon as a newer job starts
    go.release();
    QVERIFY(tracker.waitForIdle(5000));
  }

  void destructionWaitsAndDeliversNothing() {
    auto delivered = std::make_shared<std::atomic<int>>(0);
    auto finished = std::make_shared<std::atomic<bool>>(false);
    {
      JobTracker tracker;
      tracker.start(
          [finished](const JobTracker::Context&) {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
            *finished = true;
            return 1;
          },
          [delivered](int) { ++*delivered; }, [delivered](const QString&) { ++*delivered; });
    }  // ~JobTracker waits for the job
    QVERIFY(*finished);
    QCoreApplication::processEvents();
    QCOMPARE(delivered->load(), 0);
  }
};

QTEST_GUILESS_MAIN(TestJobTracker)
#include "tst_job_tracker.moc"
