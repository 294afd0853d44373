#include "result.h"

#include <string.h>

namespace bpfex {

std::string errno_name(int err) {
  if (const char* name = strerrorname_np(err)) return name;
  return "E" + std::to_string(err);
}

std::string Error::str() const {
  if (err == 0) return message;
  return message + ": " + std::strerror(err) + " (" + errno_name(err) + ")";
}

Error errno_error(std::string message, int err) {
  if (err < 0) err = -err;
  return Error{err, std::move(message)};
}

}  // namespace bpfex
