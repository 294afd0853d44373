// cgroup v2 directories for integration tests: created below the cgroup2 mount (wherever it is:
// /sys/fs/cgroup, or /sys/fs/cgroup/unified on hybrid hosts), processes run inside them, removed on
// scope exit. Tests name them after themselves, so nothing else on the host is touched.
#pragma once

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>

#include "helpers.h"
#include "workload/cgroupfs.h"

namespace bpfex::test {

class TestCgroup {
 public:
  // path: below the mount, "/bpfex-it-x.slice/app.service"; parents are created as needed.
  explicit TestCgroup(std::string path) : path_(std::move(path)) {
    mount_ = workload::cgroup2_mount();
    REQUIRE_FALSE(mount_.empty());
    std::filesystem::create_directories(mount_ + path_);
  }
  ~TestCgroup() { remove(); }
  TestCgroup(const TestCgroup&) = delete;
  TestCgroup& operator=(const TestCgroup&) = delete;

  const std::string& path() const { return path_; }
  uint64_t id() const {
    struct stat st {};
    REQUIRE(stat((mount_ + path_).c_str(), &st) == 0);
    return st.st_ino;
  }

  // Runs fn in a child process moved into this cgroup first; waits; fails the test unless it exits 0.
  void run(const std::function<void()>& fn) const {
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      std::ofstream procs(mount_ + path_ + "/cgroup.procs");
      procs << getpid() << std::flush;
      if (!procs) _exit(3);
      fn();
      _exit(0);
    }
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);
  }

  // Removes the cgroup and the parents this test created (empty ones only).
  void remove() {
    if (removed_) return;
    removed_ = true;
    for (std::string p = path_; p.size() > 1; p = p.substr(0, p.rfind('/'))) {
      if (::rmdir((mount_ + p).c_str()) != 0) break;
    }
  }

 private:
  std::string mount_, path_;
  bool removed_ = false;
};

}  // namespace bpfex::test
