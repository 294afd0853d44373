// Re-reads --web.config.file when it, or a certificate, key or CA it names, changes (certificate
// rotation without a restart, as exporter-toolkit does); a broken new version is logged and the last
// good one keeps serving.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/result.h"
#include "http/web_config.h"

namespace bpfex {

class WebConfigWatcher {
 public:
  // loaded: what start-up loaded from path. apply: gets each good new version (on the watcher's
  // thread); its error is logged and the watcher tries again at the next change.
  WebConfigWatcher(std::string path, const LoadedWebConfig& loaded, std::function<Status(const WebConfig&)> apply);
  ~WebConfigWatcher();
  WebConfigWatcher(const WebConfigWatcher&) = delete;
  WebConfigWatcher& operator=(const WebConfigWatcher&) = delete;

  static constexpr std::chrono::seconds kCheckInterval{1};

 private:
  void run();

  std::string path_;
  std::vector<std::string> files_;
  std::vector<FileStamp> stamps_;
  std::function<Status(const WebConfig&)> apply_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace bpfex
