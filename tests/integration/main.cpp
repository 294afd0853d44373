// Integration tests load real BPF programs and cause real events: they need root (or CAP_BPF +
// CAP_PERFMON). Without it they skip with exit code 77 on a laptop, and fail under CI=true.
#define CATCH_CONFIG_RUNNER
#include <unistd.h>
#include <catch2/catch.hpp>

#include <cstdlib>
#include <cstring>

#include "loader/skeleton.h"

int main(int argc, char** argv) {
  if (geteuid() != 0) {
    const char* ci = std::getenv("CI");
    if (ci && std::strcmp(ci, "true") == 0) {
      std::fprintf(stderr, "integration tests need root to load BPF programs, and CI=true forbids skipping\n");
      return 1;
    }
    std::fprintf(stderr, "SKIP: integration tests need root to load BPF programs (run as root)\n");
    return 77;
  }
  bpfex::install_libbpf_logger();
  return Catch::Session().run(argc, argv);
}
