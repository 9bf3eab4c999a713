// JobTracker (see job_tracker.h).
#include "app/job_tracker.h"

namespace ms::app {

JobTracker::JobTracker(QObject* parent) : QObject(parent) {
  // Opening models is I/O bound and a new job supersedes the old one: two threads are plenty and
  // keep a superseded job from delaying the current one.
  m_pool.setMaxThreadCount(2);
}

JobTracker::~JobTracker() {
  cancel();
  m_pool.waitForDone();
}

void JobTracker::Context::reportProgress(double fraction) const {
  if (isCancelled() || !m_tracker) return;
  const JobId id = m_id;
  auto current = m_current;
  QPointer<JobTracker> tracker = m_tracker;
  QMetaObject::invokeMethod(
      tracker.data(),
      [tracker, current, id, fraction] {
        if (tracker && current->load() == id) Q_EMIT tracker->progressChanged(id, fraction);
      },
      Qt::QueuedConnection);
}

JobTracker::JobId JobTracker::beginJob() {
  const JobId id = ++m_lastId;
  m_current->store(id);
  if (m_running++ == 0) Q_EMIT runningChanged(true);
  return id;
}

void JobTracker::endJob() {
  if (--m_running == 0) Q_EMIT runningChanged(false);
}

void JobTracker::cancel() {
  // Ids only grow; an id no job has is "nothing current".
  m_current->store(++m_lastId);
}

void JobTracker::post(std::function<void()> delivery) {
  QMetaObject::invokeMethod(this, std::move(delivery), Qt::QueuedConnection);
}

bool JobTracker::waitForIdle(int msecs) { return m_pool.waitForDone(msecs); }

}  // namespace ms::app
