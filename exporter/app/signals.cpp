// The signal thread: sigwait on the blocked signals, one action each.
#include "app/signals.h"

#include <signal.h>
#include <unistd.h>

#include <cstring>

#include "base/log.h"

namespace bpfex {
namespace {

sigset_t handled_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2, SIGALRM}) sigaddset(&set, s);
  return set;
}

}  // namespace

Signals::Signals() {
  const sigset_t set = handled_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  thread_ = std::thread([this] { run(); });
}

Signals::~Signals() {
  exiting_ = true;
  changed_.notify_all();
  pthread_kill(thread_.native_handle(), SIGUSR2);  // wakes sigwait: one of its own signals
  thread_.join();
}

void Signals::started() {
  {
    std::lock_guard lock(mutex_);
    started_ = true;
  }
  changed_.notify_all();
}

void Signals::run() {
  const sigset_t set = handled_signals();
  for (;;) {
    int sig = 0;
    if (sigwait(&set, &sig) != 0) continue;
    if (exiting_) return;
    switch (sig) {
      case SIGINT:
      case SIGTERM: {
        if (stop_signal_.exchange(sig) != 0) {
          log_warn("second stop signal while stopping: exiting now", {{"signal", strsignal(sig)}});
          _exit(1);
        }
        std::unique_lock lock(mutex_);
        changed_.notify_all();
        if (!started_) {
          log_info("stop asked for during start-up", {{"signal", strsignal(sig)}});
          // Start-up checks between its steps and gives up; one step that hangs is not waited for.
          if (!changed_.wait_for(lock, kStartupStopDeadline, [&] { return started_ || exiting_.load(); })) {
            log_warn("start-up did not stop in time: exiting now");
            _exit(0);
          }
        }
        break;
      }
      case SIGHUP: {
        std::function<void()> reload;
        {
          std::lock_guard lock(mutex_);
          reload = reload_;
        }
        if (reload)
          reload();
        else
          log_info("SIGHUP ignored: nothing to reload yet (start-up is not over)");
        break;
      }
      default: log_info("signal ignored", {{"signal", strsignal(sig)}}); break;
    }
  }
}

int Signals::wait_for_stop() {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return stop_signal_.load() != 0; });
  return stop_signal_.load();
}

void Signals::on_reload(std::function<void()> reload) {
  std::lock_guard lock(mutex_);
  reload_ = std::move(reload);
}

}  // namespace bpfex
