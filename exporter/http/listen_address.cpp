// Parsing listen addresses; IPv4 and IPv6 literals checked with inet_pton.
#include "http/listen_address.h"

#include <arpa/inet.h>

namespace bpfex {

std::optional<ListenAddress> parse_listen_address(std::string_view text) {
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::string_view host = text.substr(0, colon), port = text.substr(colon + 1);
  if (port.empty() || port.size() > 5) return std::nullopt;
  unsigned p = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return std::nullopt;
    p = p * 10 + static_cast<unsigned>(c - '0');
  }
  if (p == 0 || p > 65535) return std::nullopt;
  ListenAddress out;
  out.port = p;
  if (host.empty()) return out;
  if (host == "localhost") host = "127.0.0.1";
  std::string h(host);
  unsigned char buf[16];
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') {
    h = h.substr(1, h.size() - 2);
    if (inet_pton(AF_INET6, h.c_str(), buf) != 1) return std::nullopt;
    out.ipv6 = true;
  } else if (inet_pton(AF_INET, h.c_str(), buf) != 1) {
    return std::nullopt;
  }
  out.host = h;
  return out;
}

}  // namespace bpfex
