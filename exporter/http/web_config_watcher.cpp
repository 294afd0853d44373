// The watcher thread: stat every file once a second, reload on any change.
#include "http/web_config_watcher.h"

#include "base/log.h"

namespace bpfex {

WebConfigWatcher::WebConfigWatcher(std::string path, const LoadedWebConfig& loaded,
                                   std::function<Status(const WebConfig&)> apply)
    : path_(std::move(path)), files_(loaded.files), stamps_(stamp_files(files_)), apply_(std::move(apply)) {
  thread_ = std::thread([this] { run(); });
}

WebConfigWatcher::~WebConfigWatcher() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void WebConfigWatcher::run() {
  std::unique_lock lock(mutex_);
  while (!wake_.wait_for(lock, kCheckInterval, [this] { return stopping_; })) {
    std::vector<FileStamp> now = stamp_files(files_);
    if (now == stamps_) continue;
    // Remembered before loading: a broken version is reported once, not every second.
    stamps_ = now;
    auto result = load_web_config(path_);
    if (auto* errors = std::get_if<std::vector<ConfigError>>(&result)) {
      for (const ConfigError& e : *errors)
        log_error("web config: the changed file is not used; the last good one keeps serving", {{"err", e.str()}});
      continue;
    }
    auto& loaded = std::get<LoadedWebConfig>(result);
    if (Status st = apply_(loaded.config); !st) {
      log_error("web config: the changed file could not be applied; the last good one keeps serving",
                {{"err", st.error().str()}});
      continue;
    }
    files_ = loaded.files;
    stamps_ = stamp_files(files_);
    log_info("web config reloaded", {{"file", path_},
                                     {"tls", loaded.config.tls ? "on" : "off"},
                                     {"basic_auth_users", std::to_string(loaded.config.basic_auth_users.size())}});
  }
}

}  // namespace bpfex
