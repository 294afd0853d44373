// Error text: the message, strerror and the errno name ("Operation not permitted (EPERM)").
#include "base/result.h"

#include "labels/errno.h"

namespace bpfex {

std::string Error::str() const {
  if (err == 0) return message;
  return message + ": " + std::strerror(err) + " (" + labels::errno_label(static_cast<uint64_t>(err)) + ")";
}

Error errno_error(std::string message, int err) {
  if (err < 0) err = -err;
  return Error{err, std::move(message)};
}

}  // namespace bpfex
