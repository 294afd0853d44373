#include <sys/syscall.h>

#include <catch2/catch.hpp>

#include "syscalls.h"

using namespace bpfex;

TEST_CASE("syscall names come from the uapi headers of the build architecture") {
  CHECK(syscall_name(SYS_read) == "read");
  CHECK(syscall_name(SYS_getppid) == "getppid");
  CHECK(syscall_name(SYS_execve) == "execve");
  CHECK(syscall_name(SYS_openat) == "openat");
#if defined(__x86_64__)
  CHECK(syscall_name(0) == "read");
  CHECK(syscall_name(59) == "execve");
  CHECK(syscall_name(231) == "exit_group");
#elif defined(__aarch64__)
  CHECK(syscall_name(63) == "read");
  CHECK(syscall_name(221) == "execve");
#endif
  CHECK(*syscall_number("getppid") == SYS_getppid);
  CHECK_FALSE(syscall_number("nosuch"));
  CHECK(syscall_table_size() > 300);
}

TEST_CASE("a number without a name is labelled by its number") {
  CHECK(syscall_name(100000).empty());
  CHECK(syscall_label(100000) == "100000");
  CHECK(syscall_label(SYS_read) == "read");
}

TEST_CASE("names are unique and numbers in range") {
  for (uint32_t nr = 0; nr < syscall_table_size(); ++nr) {
    auto name = syscall_name(nr);
    if (name.empty()) continue;
    CHECK(syscall_number(name) == nr);
  }
}
