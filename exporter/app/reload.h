// Reloading the configuration while bpfex runs (SIGHUP, or POST /-/reload with
// --web.enable-lifecycle), as Prometheus does: the file is read again; modules whose options did not
// change keep running untouched, changed ones are replaced, counters never go down; a bad file is
// logged with its errors and the running configuration stays.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "app/app.h"
#include "config/flags.h"

namespace bpfex {

class Poller;
class HttpServer;

// What a reload reads and changes; everything here outlives the Reloader.
struct ReloadTargets {
  const Flags& flags;  // the file to read again and the flags that override it, as at start
  Config& config;      // the running configuration: what is applied is written back
  std::vector<RunningModule>& modules;
  ModuleContext& context;
  Poller& poller;
  HttpServer& http;
};

class Reloader {
 public:
  // Called when a reload is over: error is empty on success, else what failed (the log has all).
  using Done = std::function<void(const std::string& error)>;

  explicit Reloader(ReloadTargets targets);
  ~Reloader() { stop(); }
  Reloader(const Reloader&) = delete;
  Reloader& operator=(const Reloader&) = delete;

  // Asks for a reload, done on the reloader's thread; returns at once. Requests that come while a
  // reload runs are all answered by one more reload after it (each reads the file after it asked).
  void request(Done done = {});
  // Waits for a running reload to end (a module start in it is not interrupted); requests not yet
  // begun are answered with an error.
  void stop();
  // bpfex_config_last_reload_successful and bpfex_config_last_reload_success_timestamp_seconds,
  // as Prometheus names them (start-up counts as the first successful load).
  Families metrics() const;

  // One reload on the calling thread: "" or what failed. Exposed for tests; request() otherwise.
  std::string reload();

 private:
  void run();
  // Replaces module i by one started with next's options (or stops it); "" or what failed.
  std::string replace_module(size_t i, const ModuleConfig& next);
  // Starts a new instance of module `name` beside the running one; "" or what failed (was_up: the
  // running one is up and stays so).
  std::string start_instance(const std::string& name, Module& instance, bool was_up);
  // Called inside Poller::with_modules: instance takes over from running's, counters continuing.
  // forget: what of the guard's series end with the old instance, called after its last reading.
  void swap_in(RunningModule& running, std::unique_ptr<Module> instance, const std::string& name,
               const std::function<void(CounterGuard&)>& forget = {});
  // User programs: those named now and changed (YAML, object or export settings) or down are
  // started anew, new ones added, those no longer named stopped; unchanged ones keep running.
  void reload_programs(const std::vector<programs::ProgramConfig>& next_configs,
                       const programs::ProgramsOptions& next_options, std::vector<std::string>& failures,
                       std::string& changed);

  ReloadTargets t_;
  // The export settings each user program runs with, by program name: set by reloads (one that
  // could not restart a program leaves it with its old ones); before the first, t_.config.programs.
  std::map<std::string, programs::ProgramsOptions> program_options_;
  std::atomic<bool> successful_{true};
  std::atomic<double> success_unix_seconds_;
  std::mutex mutex_;  // guards what follows
  std::condition_variable wake_;
  std::vector<Done> waiting_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace bpfex
