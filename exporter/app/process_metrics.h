// The standard process_* metrics of the exporter itself (as every Prometheus client library
// exports them), read from /proc/self: what bpfex costs in user space, next to the BPF programs'
// kernel cost in bpfex_bpf_program_run_seconds_total.
#pragma once

#include "metrics/families.h"

namespace bpfex {

Families process_metrics();

}  // namespace bpfex
