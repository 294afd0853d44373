// A BPF program as it runs: what the landing page, the self-metrics and the logs say about it.
#pragma once

#include <string>

namespace bpfex {

struct LoadedProgram {
  std::string name;     // BPF function name in the object ("exec_tp_btf")
  std::string flavour;  // flavour_name() of how it attached ("tp_btf", "tcx")
  std::string target;   // where: "sched_process_exec"; several targets comma-separated; for network
                        // devices, the direction and which devices ("ingress (Ethernet, loopback)")
  int fd = -1;          // owned by the module's BPF object; valid while the module lives

  // "tp_btf sched_process_exec"
  std::string attach_point() const { return flavour + " " + target; }
};

}  // namespace bpfex
