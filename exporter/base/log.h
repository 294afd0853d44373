// Minimal leveled logger writing logfmt lines to stderr (what journald and kubectl logs expect).
#pragma once

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace bpfex {

enum class LogLevel { debug = 0, info = 1, warn = 2, error = 3 };

std::optional<LogLevel> parse_log_level(std::string_view text);
void set_log_level(LogLevel level);
bool log_enabled(LogLevel level);

using LogFields = std::initializer_list<std::pair<std::string_view, std::string_view>>;
void log(LogLevel level, std::string_view msg, LogFields fields = {});

inline void log_debug(std::string_view msg, LogFields f = {}) { log(LogLevel::debug, msg, f); }
inline void log_info(std::string_view msg, LogFields f = {}) { log(LogLevel::info, msg, f); }
inline void log_warn(std::string_view msg, LogFields f = {}) { log(LogLevel::warn, msg, f); }
inline void log_error(std::string_view msg, LogFields f = {}) { log(LogLevel::error, msg, f); }

}  // namespace bpfex
