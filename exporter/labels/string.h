// Label decoder: a fixed-size C string field of a kernel struct (a task name, comm[16]) -> its text.
#pragma once

#include <cstddef>
#include <cstring>
#include <string>

namespace bpfex::labels {

// The bytes before the first NUL (all of them when there is none). Bounded by the field's size;
// families repair invalid UTF-8 (labels/utf8.h) when the value is added.
template <size_t N>
std::string string_label(const char (&field)[N]) {
  return std::string(field, strnlen(field, N));
}

}  // namespace bpfex::labels
