// net/netdev_attach: programs on an interface's ingress and egress with each flavour, and nothing
// left behind when the attachment goes, or when its interface went first.
#include <bpf/bpf.h>
#include <net/if.h>

#include <bpf/libbpf.h>

#include <algorithm>
#include <optional>

#include "net/netdev_attach.h"
#include "net/tc_filters.h"
#include "netns.h"

using namespace bpfex;
using namespace bpfex::test;

namespace {

// A cls_bpf/tcx program that only passes packets on ("r0 = TCX_NEXT; exit").
Fd pass_program() {
  const bpf_insn insns[] = {
      {BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, TCX_NEXT},
      {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},
  };
  Fd fd(bpf_prog_load(BPF_PROG_TYPE_SCHED_CLS, "bpfex_pass", "GPL", insns, 2, nullptr));
  REQUIRE(fd);
  return fd;
}

bool tc_filter_on(const std::string& dev, const char* direction) {
  return sh_output("tc filter show dev " + dev + " " + direction).find("bpfex_pass") != std::string::npos;
}

bool has_clsact(const std::string& dev) {
  return sh_output("tc qdisc show dev " + dev).find("clsact") != std::string::npos;
}

}  // namespace

TEST_CASE("netdev attach: tcx links on ingress and egress, gone with the attachment", "[net]") {
  KernelFeatures kernel;
  if (!kernel.can_attach(NetdevFlavour::tcx)) {
    WARN("this kernel has no tcx (Linux 6.6+): the tc test covers it");
    return;
  }
  NetNs ns;
  Veth veth(ns, 40);
  const int ifindex = static_cast<int>(if_nametoindex(veth.host.c_str()));
  REQUIRE(ifindex > 0);
  Fd prog = pass_program();
  const uint32_t id = program_id(prog.get());
  {
    auto a = NetdevAttachment::attach(NetdevFlavour::tcx, ifindex, {prog.get(), prog.get()});
    REQUIRE(a.ok());
    CHECK(tcx_attached(ifindex, BPF_TCX_INGRESS, id) == 1);
    CHECK(tcx_attached(ifindex, BPF_TCX_EGRESS, id) == 1);
    CHECK_FALSE(has_clsact(veth.host));
    NetdevAttachment moved = std::move(a.value());  // ownership moves, nothing is detached
    CHECK(tcx_attached(ifindex, BPF_TCX_INGRESS, id) == 1);
  }
  CHECK(tcx_attached(ifindex, BPF_TCX_INGRESS, id) == 0);
  CHECK(tcx_attached(ifindex, BPF_TCX_EGRESS, id) == 0);
  {
    auto ingress_only = NetdevAttachment::attach(NetdevFlavour::tcx, ifindex, {prog.get(), -1});
    REQUIRE(ingress_only.ok());
    CHECK(tcx_attached(ifindex, BPF_TCX_INGRESS, id) == 1);
    CHECK(tcx_attached(ifindex, BPF_TCX_EGRESS, id) == 0);
  }
}

namespace {

// A pass program named like bpfex's own (kTcProgramPrefix): what a bpfex leaves on tc.
Fd bpfex_like_program() {
  const bpf_insn insns[] = {
      {BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, TCX_NEXT},
      {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},
  };
  Fd fd(bpf_prog_load(BPF_PROG_TYPE_SCHED_CLS, "network_test", "GPL", insns, 2, nullptr));
  REQUIRE(fd);
  return fd;
}

// Filters at bpfex's priority on a hook, by handle.
std::vector<uint32_t> bpfex_handles(int ifindex, bool ingress) {
  auto filters = list_tc_filters(ifindex, ingress);
  REQUIRE(filters.ok());
  std::vector<uint32_t> out;
  for (const TcFilter& f : *filters)
    if (f.priority == kTcPriority) out.push_back(f.handle);
  std::sort(out.begin(), out.end());
  return out;
}

// Someone else's filter (another tool's program at another priority), removed on scope exit.
struct ThirdPartyFilter {
  int ifindex;
  ThirdPartyFilter(int idx, int prog_fd) : ifindex(idx) {
    LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
    LIBBPF_OPTS(bpf_tc_opts, opts, .prog_fd = prog_fd, .handle = 1, .priority = 1);
    REQUIRE(bpf_tc_attach(&hook, &opts) == 0);
  }
  ~ThirdPartyFilter() {
    LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
    LIBBPF_OPTS(bpf_tc_opts, opts, .handle = 1, .priority = 1);
    bpf_tc_detach(&hook, &opts);
  }
};

}  // namespace

TEST_CASE("netdev attach: tc filters on a clsact qdisc; a qdisc we created goes, one we found stays", "[net]") {
  NetNs ns;
  Veth veth(ns, 41);
  const int ifindex = static_cast<int>(if_nametoindex(veth.host.c_str()));
  REQUIRE(ifindex > 0);
  Fd prog = pass_program();
  auto owner = TcOwner::claim();
  REQUIRE(owner.ok());
  SECTION("no clsact qdisc before: ours, removed with our filters") {
    {
      auto a = NetdevAttachment::attach(NetdevFlavour::tc, ifindex, {prog.get(), prog.get()}, &*owner);
      REQUIRE(a.ok());
      CHECK(has_clsact(veth.host));
      CHECK(tc_filter_on(veth.host, "ingress"));
      CHECK(tc_filter_on(veth.host, "egress"));
      CHECK(bpfex_handles(ifindex, true) == std::vector<uint32_t>{owner->handle()});
      CHECK(a->verify().ok());
    }
    CHECK_FALSE(has_clsact(veth.host));
  }
  SECTION("a clsact qdisc of someone else's: it stays, our filters go") {
    sh("tc qdisc add dev " + veth.host + " clsact");
    {
      auto a = NetdevAttachment::attach(NetdevFlavour::tc, ifindex, {prog.get(), -1}, &*owner);
      REQUIRE(a.ok());
      CHECK(tc_filter_on(veth.host, "ingress"));
      CHECK_FALSE(tc_filter_on(veth.host, "egress"));
    }
    CHECK(has_clsact(veth.host));
    CHECK_FALSE(tc_filter_on(veth.host, "ingress"));
  }
}

TEST_CASE("netdev attach: on tc, two instances and a third party share a qdisc; each removes only its own", "[net]") {
  NetNs ns;
  Veth veth(ns, 42);
  const int ifindex = static_cast<int>(if_nametoindex(veth.host.c_str()));
  Fd prog = bpfex_like_program(), other = pass_program();
  auto first = TcOwner::claim(), second = TcOwner::claim();
  REQUIRE(first.ok());
  REQUIRE(second.ok());
  REQUIRE(first->handle() != second->handle());
  CHECK(TcOwner::alive(first->handle()));
  std::optional<NetdevAttachment> a, b;
  {
    auto r = NetdevAttachment::attach(NetdevFlavour::tc, ifindex, {prog.get(), prog.get()}, &*first);
    REQUIRE(r.ok());
    a.emplace(std::move(r.value()));
  }
  {
    auto r = NetdevAttachment::attach(NetdevFlavour::tc, ifindex, {prog.get(), prog.get()}, &*second);
    REQUIRE(r.ok());
    b.emplace(std::move(r.value()));
  }
  // The second did not replace the first: both run, each under its handle.
  std::vector<uint32_t> both = {first->handle(), second->handle()};
  std::sort(both.begin(), both.end());
  CHECK(bpfex_handles(ifindex, true) == both);
  CHECK(bpfex_handles(ifindex, false) == both);
  CHECK(b->stale_filters_removed() == 0);
  CHECK(a->verify().ok());
  CHECK(b->verify().ok());
  auto third = std::make_optional<ThirdPartyFilter>(ifindex, other.get());
  a.reset();  // the one that created the qdisc stops first
  CHECK(bpfex_handles(ifindex, true) == std::vector<uint32_t>{second->handle()});
  CHECK(tc_filter_on(veth.host, "ingress"));  // the third party's
  CHECK(b->verify().ok());
  CHECK(has_clsact(veth.host));
  b.reset();
  CHECK(bpfex_handles(ifindex, true).empty());
  CHECK(tc_filter_on(veth.host, "ingress"));  // still there, and so is its qdisc
  CHECK(has_clsact(veth.host));
  third.reset();
}

TEST_CASE("netdev attach: on tc, a dead instance's filters are removed by the next one, which then removes the qdisc",
          "[net]") {
  NetNs ns;
  Veth veth(ns, 43);
  const int ifindex = static_cast<int>(if_nametoindex(veth.host.c_str()));
  Fd prog = bpfex_like_program();
  uint32_t dead_handle = 0;
  {
    // What SIGKILL leaves: filters in place, the owner's socket closed by the kernel.
    auto dead = TcOwner::claim();
    REQUIRE(dead.ok());
    dead_handle = dead->handle();
    auto a = NetdevAttachment::attach(NetdevFlavour::tc, ifindex, {prog.get(), prog.get()}, &*dead);
    REQUIRE(a.ok());
    a->abandon();
  }
  CHECK_FALSE(TcOwner::alive(dead_handle));
  CHECK(bpfex_handles(ifindex, true) == std::vector<uint32_t>{dead_handle});
  auto owner = TcOwner::claim();
  REQUIRE(owner.ok());
  {
    auto a = NetdevAttachment::attach(NetdevFlavour::tc, ifindex, {prog.get(), prog.get()}, &*owner);
    REQUIRE(a.ok());
    CHECK(a->stale_filters_removed() == 2);
    CHECK(bpfex_handles(ifindex, true) == std::vector<uint32_t>{owner->handle()});
    CHECK(bpfex_handles(ifindex, false) == std::vector<uint32_t>{owner->handle()});
  }
  // Exactly one set converged, and the qdisc only bpfex used is gone with the last of them.
  CHECK_FALSE(has_clsact(veth.host));
}

TEST_CASE("netdev attach: on tc, a filter someone else removed or replaced is reported, theirs left alone", "[net]") {
  NetNs ns;
  Veth veth(ns, 44);
  const int ifindex = static_cast<int>(if_nametoindex(veth.host.c_str()));
  Fd prog = bpfex_like_program(), other = pass_program();
  auto owner = TcOwner::claim();
  REQUIRE(owner.ok());
  auto a = NetdevAttachment::attach(NetdevFlavour::tc, ifindex, {prog.get(), prog.get()}, &*owner);
  REQUIRE(a.ok());
  REQUIRE(a->verify().ok());
  // Replaced: someone attached their program under our handle and priority.
  LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
  LIBBPF_OPTS(bpf_tc_opts, replace, .prog_fd = other.get(), .flags = BPF_TC_F_REPLACE, .handle = owner->handle(),
              .priority = kTcPriority);
  REQUIRE(bpf_tc_attach(&hook, &replace) == 0);
  Status st = a->verify();
  REQUIRE_FALSE(st.ok());
  CHECK_THAT(st.error().message, Catch::Contains("replaced by someone else"));
  // Removed.
  LIBBPF_OPTS(bpf_tc_hook, egress, .ifindex = ifindex, .attach_point = BPF_TC_EGRESS);
  LIBBPF_OPTS(bpf_tc_opts, ours, .handle = owner->handle(), .priority = kTcPriority);
  REQUIRE(bpf_tc_detach(&egress, &ours) == 0);
  LIBBPF_OPTS(bpf_tc_opts, replaced, .handle = owner->handle(), .priority = kTcPriority);
  REQUIRE(bpf_tc_detach(&hook, &replaced) == 0);
  st = a->verify();
  REQUIRE_FALSE(st.ok());
  CHECK_THAT(st.error().message, Catch::Contains("removed by someone else"));
}

TEST_CASE("netdev attach: an abandoned attachment does not touch the interface that took its ifindex", "[net]") {
  NetNs ns;
  Fd prog = pass_program();
  const std::string tok = unique_token(5), first = "bna" + tok, second = "bnb" + tok;
  // veth: this kernel has no dummy devices. Deleting one end deletes its peer.
  // An ifindex well above what the namespace hands out by itself, so both interfaces can have it.
  const std::string index = "4242";
  sh(ns.exec("ip link add " + first + " index " + index + " type veth peer name " + first + "p"));
  std::optional<NetdevAttachment> attachment;
  std::optional<TcOwner> owner;
  REQUIRE(ns.run_inside([&] {
    auto o = TcOwner::claim();
    if (!o) return;
    owner.emplace(std::move(o.value()));
    auto a = NetdevAttachment::attach(NetdevFlavour::tc, std::stoi(index), {prog.get(), prog.get()}, &*owner);
    if (a) attachment.emplace(std::move(a.value()));
  }));
  REQUIRE(attachment);
  sh(ns.exec("ip link del " + first));
  sh(ns.exec("ip link add " + second + " index " + index + " type veth peer name " + second + "p"));
  sh(ns.exec("tc qdisc add dev " + second + " clsact"));
  attachment->abandon();
  REQUIRE(ns.run_inside([&] { attachment.reset(); }));
  CHECK(sh_output(ns.exec("tc qdisc show dev " + second)).find("clsact") != std::string::npos);
}

TEST_CASE("netdev attach: a tcx link whose interface went away fails verify()", "[net]") {
  KernelFeatures kernel;
  if (!kernel.can_attach(NetdevFlavour::tcx)) {
    WARN("this kernel has no tcx (Linux 6.6+)");
    return;
  }
  NetNs ns;
  Fd prog = pass_program();
  std::optional<NetdevAttachment> attachment;
  {
    Veth veth(ns, 45);
    const int ifindex = static_cast<int>(if_nametoindex(veth.host.c_str()));
    auto a = NetdevAttachment::attach(NetdevFlavour::tcx, ifindex, {prog.get(), prog.get()});
    REQUIRE(a.ok());
    attachment.emplace(std::move(a.value()));
    CHECK(attachment->verify().ok());
  }
  Status st = attachment->verify();
  REQUIRE_FALSE(st.ok());
  CHECK_THAT(st.error().message, Catch::Contains("went away"));
}
