#include <catch2/catch.hpp>

#include <cerrno>
#include <set>

#include "loader/hooks.h"

using namespace bpfex;

namespace {

// Pure logic only: a kernel that supports exactly the listed kinds.
class FakeFeatures final : public Features {
 public:
  explicit FakeFeatures(std::set<Flavour> flavours, std::set<NetdevFlavour> netdev = {})
      : flavours_(std::move(flavours)), netdev_(std::move(netdev)) {}
  bool can_attach(Flavour flavour, std::string_view) override {
    ++probes;
    return flavours_.count(flavour) > 0;
  }
  bool can_attach(NetdevFlavour flavour) override { return netdev_.count(flavour) > 0; }
  int probes = 0;

 private:
  std::set<Flavour> flavours_;
  std::set<NetdevFlavour> netdev_;
};

const std::vector<Hook> kHooks = {
    {"exec", {{Flavour::tp_btf, "a", "t"}, {Flavour::raw_tp, "b", "t"}, {Flavour::tracepoint, "c", "s/t"}}},
    {"ret", {{Flavour::fexit, "d", "f"}, {Flavour::kretprobe, "e", "f"}, {Flavour::tracepoint, "g", "s/x"}}},
};

}  // namespace

TEST_CASE("the cheapest supported attach point is chosen") {
  FakeFeatures all({Flavour::tp_btf, Flavour::raw_tp, Flavour::tracepoint, Flavour::fexit, Flavour::kretprobe});
  auto picks = choose_attach_points(kHooks, all);
  CHECK(picks[0] == 0u);
  CHECK(picks[1] == 0u);
}

TEST_CASE("without fentry/fexit and kprobes (this VM's kernel) the choice falls back") {
  FakeFeatures vm({Flavour::tp_btf, Flavour::raw_tp, Flavour::tracepoint});
  auto picks = choose_attach_points(kHooks, vm);
  CHECK(picks[0] == 0u);
  CHECK(picks[1] == 2u);
}

TEST_CASE("kprobes are the fallback when fexit is missing") {
  FakeFeatures k({Flavour::kretprobe, Flavour::raw_tp});
  auto picks = choose_attach_points(kHooks, k);
  CHECK(picks[0] == 1u);
  CHECK(picks[1] == 1u);
}

TEST_CASE("shared flavour: every hook takes the cheapest flavour all of them support") {
  // Hook 0 could use tp_btf (index 0) but hook 1's first supported is tracepoint (index 2).
  FakeFeatures k({Flavour::tp_btf, Flavour::raw_tp, Flavour::tracepoint});
  auto per_hook = choose_attach_points(kHooks, k);
  CHECK(per_hook[0] == 0u);
  auto shared = choose_attach_points(kHooks, k, FlavourChoice::shared);
  CHECK(shared[0] == 2u);
  CHECK(shared[1] == 2u);
}

TEST_CASE("shared flavour: a hook that could attach cheaper waits for the weakest") {
  // Hook 1 could use kretprobe (index 1), hook 0 only tracepoint (index 2): both take index 2.
  FakeFeatures k({Flavour::kretprobe, Flavour::tracepoint});
  CHECK(choose_attach_points(kHooks, k)[1] == 1u);
  auto shared = choose_attach_points(kHooks, k, FlavourChoice::shared);
  CHECK(shared[0] == 2u);
  CHECK(shared[1] == 2u);
}

TEST_CASE("no usable attach point is reported as such") {
  FakeFeatures none({});
  auto picks = choose_attach_points(kHooks, none);
  CHECK_FALSE(picks[0]);
  CHECK_FALSE(picks[1]);
}

TEST_CASE("denied kinds are skipped by RestrictedFeatures") {
  FakeFeatures all({Flavour::tp_btf, Flavour::raw_tp});
  RestrictedFeatures r(all, {Flavour::tp_btf});
  CHECK_FALSE(r.can_attach(Flavour::tp_btf, "t"));
  CHECK(r.can_attach(Flavour::raw_tp, "t"));
}

TEST_CASE("network device flavours are denied on their own") {
  FakeFeatures all({Flavour::tp_btf}, {NetdevFlavour::tcx, NetdevFlavour::tc});
  RestrictedFeatures r(all, {}, {NetdevFlavour::tcx});
  CHECK_FALSE(r.can_attach(NetdevFlavour::tcx));
  CHECK(r.can_attach(NetdevFlavour::tc));
  CHECK(r.can_attach(Flavour::tp_btf, "t"));
}

TEST_CASE("flavours have the names the landing page and the logs use") {
  CHECK(flavour_name(Flavour::fentry) == "fentry");
  CHECK(flavour_name(Flavour::fexit) == "fexit");
  CHECK(flavour_name(Flavour::kprobe) == "kprobe");
  CHECK(flavour_name(Flavour::kretprobe) == "kretprobe");
  CHECK(flavour_name(Flavour::tp_btf) == "tp_btf");
  CHECK(flavour_name(Flavour::raw_tp) == "raw_tp");
  CHECK(flavour_name(Flavour::tracepoint) == "tracepoint");
  CHECK(flavour_name(NetdevFlavour::tcx) == "tcx");
  CHECK(flavour_name(NetdevFlavour::tc) == "tc");
}
