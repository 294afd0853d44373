// libbpf's log routed into ours (keeping the last lines per thread) and load errors with hints.
#include "loader/skeleton.h"

#include <cstdarg>
#include <cstdio>
#include <deque>

#include "base/log.h"
#include "loader/btf.h"
#include "loader/features.h"

namespace bpfex {
namespace {

thread_local std::deque<std::string> t_libbpf_lines;

int libbpf_print(enum libbpf_print_level level, const char* format, va_list args) {
  char buf[1024];
  int n = std::vsnprintf(buf, sizeof buf, format, args);
  if (n < 0) return 0;
  std::string line(buf);
  while (!line.empty() && line.back() == '\n') line.pop_back();
  if (line.starts_with("libbpf: ")) line.erase(0, 8);  // quoted as "libbpf: ..." where it is used
  if (line.empty()) return n;
  t_libbpf_lines.push_back(line);
  if (t_libbpf_lines.size() > 64) t_libbpf_lines.pop_front();
  // libbpf's warnings are usually about a feature we probe around; our own error says what failed.
  (void)level;
  log_debug(line, {{"source", "libbpf"}});
  return n;
}

}  // namespace

void install_libbpf_logger() { libbpf_set_print(libbpf_print); }

void clear_libbpf_log() { t_libbpf_lines.clear(); }

std::string libbpf_log_tail(size_t n) {
  std::string out;
  size_t start = t_libbpf_lines.size() > n ? t_libbpf_lines.size() - n : 0;
  for (size_t i = start; i < t_libbpf_lines.size(); ++i) {
    if (!out.empty()) out += " | ";
    out += t_libbpf_lines[i];
  }
  return out;
}

Error describe_load_error(int err, const std::string& btf_path) {
  Error e = errno_error("load BPF programs", err);
  int code = e.err;
  if (std::string btf = missing_btf_hint(btf_path); !btf.empty())
    e.message += " (hint: " + btf + ")";
  else if (code == EPERM)
    e.message += std::string(" (hint: ") + kBpfPrivilegeHint + ")";
  else if (code == EACCES || code == EINVAL)
    e.message += " (hint: the verifier rejected a program; this kernel may be too old or miss BTF)";
  std::string tail = libbpf_log_tail();
  if (!tail.empty()) e.message += "; libbpf: " + tail;
  return e;
}

}  // namespace bpfex
