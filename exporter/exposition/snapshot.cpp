// Snapshot bodies, built once each, and the record of which ones scrapers want.
#include "exposition/snapshot.h"

#include "exposition/compression.h"
#include "exposition/protobuf_format.h"
#include "exposition/text_format.h"

namespace bpfex {

BodyKind BodyKind::of(Format format, Encoding encoding) {
  BodyKind k;
  k.encoding = encoding;
  switch (format) {
    case Format::text: k.serialization = text; break;
    case Format::openmetrics_1_0_0:
    case Format::openmetrics_0_0_1: k.serialization = openmetrics; break;
    case Format::protobuf: k.serialization = protobuf; break;
  }
  return k;
}

Snapshot::Snapshot(Families families, std::vector<std::pair<std::string, std::string>> problems)
    : problems(std::move(problems)), families_(std::move(families)) {}

const std::string& Snapshot::body(BodyKind kind) const {
  Lazy& lazy = bodies_[static_cast<size_t>(kind.index())];
  std::call_once(lazy.once, [&] {
    if (kind.encoding == Encoding::gzip) {
      lazy.bytes = gzip(body({kind.serialization, Encoding::identity}));
      return;
    }
    switch (kind.serialization) {
      case BodyKind::text: lazy.bytes = serialize_text(families_); break;
      case BodyKind::openmetrics: lazy.bytes = serialize_openmetrics(families_); break;
      case BodyKind::protobuf: lazy.bytes = serialize_protobuf(families_); break;
    }
  });
  return lazy.bytes;
}

void SnapshotStore::wanted(BodyKind kind) const {
  last_wanted_[static_cast<size_t>(kind.index())].store(std::chrono::steady_clock::now().time_since_epoch().count(),
                                                        std::memory_order_relaxed);
}

bool SnapshotStore::wanted_lately(BodyKind kind, std::chrono::steady_clock::duration window) const {
  const int64_t at = last_wanted_[static_cast<size_t>(kind.index())].load(std::memory_order_relaxed);
  if (at == 0) return false;
  const auto since = std::chrono::steady_clock::now().time_since_epoch() - std::chrono::steady_clock::duration(at);
  return since <= window;
}

}  // namespace bpfex
