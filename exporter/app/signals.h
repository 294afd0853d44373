// The process's signals, handled on a thread of their own from the first moments of main: SIGINT
// and SIGTERM stop bpfex (also during start-up), SIGHUP asks for a reload, SIGUSR1, SIGUSR2 and
// SIGALRM are logged and otherwise ignored (by default each would kill the process without a word).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

namespace bpfex {

class Signals {
 public:
  // Blocks the signals in the calling thread (call it before any other thread exists, so every
  // thread inherits the mask) and starts the thread that waits for them. SIGPIPE is ignored: a
  // client hanging up mid-response must not kill bpfex.
  Signals();
  ~Signals();
  Signals(const Signals&) = delete;
  Signals& operator=(const Signals&) = delete;

  // Whether SIGINT or SIGTERM came.
  bool stopping() const { return stop_signal_.load() != 0; }
  // Waits for SIGINT or SIGTERM; returns which.
  int wait_for_stop();
  // From now on SIGHUP calls reload (on the signal thread); before, SIGHUP is logged and ignored.
  void on_reload(std::function<void()> reload);
  // Start-up is over: a stop no longer needs the start-up deadline below.
  void started();

  // A stop during start-up is honoured between steps; a step that does not end (a kernel slow to
  // load a program) is not waited for longer than this: bpfex exits anyway.
  static constexpr std::chrono::seconds kStartupStopDeadline{10};

 private:
  void run();

  std::thread thread_;
  std::atomic<int> stop_signal_{0};
  std::atomic<bool> exiting_{false};  // the destructor runs
  std::mutex mutex_;                  // guards started_, reload_
  std::condition_variable changed_;
  bool started_ = false;
  std::function<void()> reload_;
};

}  // namespace bpfex
