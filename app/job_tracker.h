// JobTracker: runs core work off the UI thread and delivers its result back to it.
//
// Each start() gets a new job id and supersedes the previous job: the old job's cancel predicate
// turns true (core polls it), and whatever it still produces is dropped instead of overwriting
// the newer result. Results, failures and progress arrive on the tracker's thread through queued
// calls whose context is the tracker itself, so nothing is delivered after the tracker (and the
// window owning it) is gone. The destructor cancels and waits, so no job outlives its receivers.
// Pattern from KDAB/hotspot's JobTracker.
#pragma once

#include <atomic>
#include <exception>
#include <functional>
#include <memory>
#include <type_traits>
#include <utility>

#include <QMetaObject>
#include <QObject>
#include <QPointer>
#include <QString>
#include <QThreadPool>

#include "core/util/error.h"

namespace ms::app {

class JobTracker : public QObject {
  Q_OBJECT

 public:
  using JobId = quint64;

  // What a running job sees: whether it has been superseded, and a way to report progress.
  class Context {
   public:
    JobId id() const { return m_id; }
    bool isCancelled() const { return m_current->load() != m_id; }
    // A predicate for core functions that poll for cancellation.
    std::function<bool()> cancelPredicate() const {
      return [current = m_current, id = m_id] { return current->load() != id; };
    }
    // fraction in [0, 1]; delivered queued, dropped when superseded.
    void reportProgress(double fraction) const;

   private:
    friend class JobTracker;
    Context(JobId id, std::shared_ptr<std::atomic<JobId>> current, QPointer<JobTracker> tracker)
        : m_id(id), m_current(std::move(current)), m_tracker(std::move(tracker)) {}
    JobId m_id;
    std::shared_ptr<std::atomic<JobId>> m_current;
    QPointer<JobTracker> m_tracker;
  };

  explicit JobTracker(QObject* parent = nullptr);
  ~JobTracker() override;

  // Runs `job(const Context&) -> Result` on the tracker's pool. On the tracker's thread, later:
  // onResult(Result) if it returned and is still current, onError(QString) with the one-line
  // message if it threw and is still current; nothing if it was superseded or threw ms::Cancelled.
  template <typename Job, typename OnResult, typename OnError>
  JobId start(Job job, OnResult onResult, OnError onError);

  JobId currentJob() const { return m_current->load(); }
  bool isRunning() const { return m_running > 0; }
  // Supersedes the current job without starting another.
  void cancel();
  // For tests and shutdown: waits until every started job has returned (not for deliveries).
  bool waitForIdle(int msecs = -1);

 Q_SIGNALS:
  void runningChanged(bool running);
  void progressChanged(quint64 job, double fraction);

 private:
  JobId beginJob();
  void endJob();
  void post(std::function<void()> delivery);

  std::shared_ptr<std::atomic<JobId>> m_current = std::make_shared<std::atomic<JobId>>(0);
  JobId m_lastId = 0;
  int m_running = 0;  // jobs started and not yet finished, counted on the tracker's thread
  QThreadPool m_pool;
};

template <typename Job, typename OnResult, typename OnError>
JobTracker::JobId JobTracker::start(Job job, OnResult onResult, OnError onError) {
  using Result = std::invoke_result_t<Job&, const Context&>;
  const JobId id = beginJob();
  Context context(id, m_current, QPointer<JobTracker>(this));
  // Results travel in a shared_ptr so that move-only or expensive results cross threads once.
  m_pool.start([this, context, job = std::move(job), onResult = std::move(onResult),
                onError = std::move(onError)]() mutable {
    std::shared_ptr<Result> result;
    QString error;
    bool cancelled = false;
    try {
      result = std::make_shared<Result>(job(context));
    } catch (const ms::Cancelled&) {
      cancelled = true;
    } catch (const std::exception& e) {
      error = QString::fromStdString(e.what());
      if (error.isEmpty()) error = QStringLiteral("unknown error");
    } catch (...) {
      error = QStringLiteral("unknown error");
    }
    // `this` is alive here: the destructor waits for the pool. The delivery runs on the tracker's
    // thread, and is discarded by Qt if the tracker is gone by then.
    post([this, context, result, error, cancelled, onResult, onError]() mutable {
      endJob();
      if (cancelled || context.isCancelled()) return;
      if (result) onResult(std::move(*result));
      else onError(error);
    });
  });
  return id;
}

}  // namespace ms::app
