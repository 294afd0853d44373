// Checking BTF sources: the kernel's in sysfs, a --btf.path file parsed by libbpf.
#include "loader/btf.h"

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "base/fd.h"

namespace bpfex {

bool kernel_btf_readable() { return static_cast<bool>(Fd(open(kKernelBtfPath, O_RDONLY | O_CLOEXEC))); }

Status check_btf_file(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return errno_error(path);
  if (!S_ISREG(st.st_mode)) return Error{0, path + ": not a regular file"};
  struct btf* btf = btf__parse(path.c_str(), nullptr);
  if (!btf) {
    char why[128] = "";
    libbpf_strerror(errno, why, sizeof why);  // libbpf's own codes (4000+) are no errno
    return Error{0, path + ": not BTF (raw BTF, or an ELF file with a .BTF section): " + why};
  }
  const bool has_types = btf__type_cnt(btf) > 1;
  btf__free(btf);
  if (!has_types) return Error{0, path + ": holds no types"};
  return {};
}

std::string missing_btf_hint(const std::string& btf_path) {
  if (!btf_path.empty() || kernel_btf_readable()) return "";
  return std::string("no kernel BTF at ") + kKernelBtfPath +
         " (a kernel built without CONFIG_DEBUG_INFO_BTF, or the file is not visible here): give bpfex this "
         "kernel's BTF with --btf.path=FILE";
}

}  // namespace bpfex
