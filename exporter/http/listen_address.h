// --web.listen-address and web.listen_address: parsed once, for the config check and the server.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace bpfex {

// ":9650" (all addresses), "127.0.0.1:9650", "[::1]:9650", "localhost:9650".
struct ListenAddress {
  std::string host;  // "" for all addresses; IPv6 without brackets
  unsigned port = 0;
  bool ipv6 = false;
};

// nullopt when text is none of the forms above (or the port is not 1..65535).
std::optional<ListenAddress> parse_listen_address(std::string_view text);

}  // namespace bpfex
