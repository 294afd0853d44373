// Recoverable errors travel as values: Error carries an errno (0 when none applies) and a message
// that already says where it happened ("exec: load: ...").
#pragma once

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <variant>

namespace bpfex {

struct Error {
  int err = 0;  // errno, positive; 0 when the failure has no errno
  std::string message;

  // "message: strerror (ENAME)" when errno is set.
  std::string str() const;
  // Prefixes context: Error{...}.wrap("exec: load") -> "exec: load: <message>".
  Error wrap(const std::string& context) const& { return {err, context + ": " + message}; }
};

// Builds an Error from the current errno (or an explicit negative libbpf return code).
Error errno_error(std::string message, int err = errno);

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)
  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  const T& value() const& { return std::get<0>(v_); }
  T* operator->() { return &value(); }
  T& operator*() { return value(); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

// Result<void>: ok, or an Error.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error error) : error_(std::move(error)), failed_(true) {}  // NOLINT(google-explicit-constructor)
  bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  const Error& error() const { return error_; }

 private:
  Error error_;
  bool failed_ = false;
};

}  // namespace bpfex
