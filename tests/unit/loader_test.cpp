#include <catch2/catch.hpp>

#include <cerrno>
#include <set>

#include "bpf/loader.h"

using namespace bpfex;

namespace {

// Pure logic only: a kernel that supports exactly the listed kinds.
class FakeFeatures final : public Features {
 public:
  explicit FakeFeatures(std::set<AttachKind> kinds) : kinds_(std::move(kinds)) {}
  bool can_attach(AttachKind kind, std::string_view) override {
    ++probes;
    return kinds_.count(kind) > 0;
  }
  int probes = 0;

 private:
  std::set<AttachKind> kinds_;
};

const std::vector<Hook> kHooks = {
    {"exec", {{AttachKind::tp_btf, "a", "t"}, {AttachKind::raw_tp, "b", "t"}, {AttachKind::tracepoint, "c", "s/t"}}},
    {"ret", {{AttachKind::fexit, "d", "f"}, {AttachKind::kretprobe, "e", "f"}, {AttachKind::tracepoint, "g", "s/x"}}},
};

}  // namespace

TEST_CASE("the cheapest supported attach point is chosen") {
  FakeFeatures all(
      {AttachKind::tp_btf, AttachKind::raw_tp, AttachKind::tracepoint, AttachKind::fexit, AttachKind::kretprobe});
  auto picks = choose_candidates(kHooks, all);
  CHECK(picks[0] == 0u);
  CHECK(picks[1] == 0u);
}

TEST_CASE("without fentry/fexit and kprobes (this VM's kernel) the choice falls back") {
  FakeFeatures vm({AttachKind::tp_btf, AttachKind::raw_tp, AttachKind::tracepoint});
  auto picks = choose_candidates(kHooks, vm);
  CHECK(picks[0] == 0u);
  CHECK(picks[1] == 2u);
}

TEST_CASE("kprobes are the fallback when fexit is missing") {
  FakeFeatures k({AttachKind::kretprobe, AttachKind::raw_tp});
  auto picks = choose_candidates(kHooks, k);
  CHECK(picks[0] == 1u);
  CHECK(picks[1] == 1u);
}

TEST_CASE("shared flavour: every hook takes the cheapest flavour all of them support") {
  // Hook 0 could use tp_btf (index 0) but hook 1's first supported is tracepoint (index 2).
  FakeFeatures k({AttachKind::tp_btf, AttachKind::raw_tp, AttachKind::tracepoint});
  auto per_hook = choose_candidates(kHooks, k);
  CHECK(per_hook[0] == 0u);
  auto shared = choose_candidates(kHooks, k, FlavourChoice::shared);
  CHECK(shared[0] == 2u);
  CHECK(shared[1] == 2u);
}

TEST_CASE("shared flavour: a hook that could attach cheaper waits for the weakest") {
  // Hook 1 could use kretprobe (index 1), hook 0 only tracepoint (index 2): both take index 2.
  FakeFeatures k({AttachKind::kretprobe, AttachKind::tracepoint});
  CHECK(choose_candidates(kHooks, k)[1] == 1u);
  auto shared = choose_candidates(kHooks, k, FlavourChoice::shared);
  CHECK(shared[0] == 2u);
  CHECK(shared[1] == 2u);
}

TEST_CASE("no usable attach point is reported as such") {
  FakeFeatures none({});
  auto picks = choose_candidates(kHooks, none);
  CHECK_FALSE(picks[0]);
  CHECK_FALSE(picks[1]);
}

TEST_CASE("denied kinds are skipped by RestrictedFeatures") {
  FakeFeatures all({AttachKind::tp_btf, AttachKind::raw_tp});
  RestrictedFeatures r(all, {AttachKind::tp_btf});
  CHECK_FALSE(r.can_attach(AttachKind::tp_btf, "t"));
  CHECK(r.can_attach(AttachKind::raw_tp, "t"));
}

TEST_CASE("HookSet refuses per-interface attach kinds before probing anything") {
  FakeFeatures all({AttachKind::tcx, AttachKind::tc, AttachKind::tp_btf});
  HookSet set;
  const std::vector<Hook> hooks = {{"packets", {{AttachKind::tcx, "p", ""}, {AttachKind::tc, "p", ""}}}};
  Status st = set.prepare(nullptr, hooks, all);
  REQUIRE_FALSE(st);
  CHECK(st.error().err == EINVAL);
  CHECK(st.error().message.find("tcx attaches per interface") != std::string::npos);
  CHECK(all.probes == 0);
}
