// net/netdev_attach: programs on an interface's ingress and egress with each flavour, and nothing
// left behind when the attachment goes, or when its interface went first.
#include <bpf/bpf.h>
#include <net/if.h>

#include "net/netdev_attach.h"
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

TEST_CASE("netdev attach: tc filters on a clsact qdisc; a qdisc we created goes, one we found stays", "[net]") {
  NetNs ns;
  Veth veth(ns, 41);
  const int ifindex = static_cast<int>(if_nametoindex(veth.host.c_str()));
  REQUIRE(ifindex > 0);
  Fd prog = pass_program();
  const uint32_t id = program_id(prog.get());
  SECTION("no clsact qdisc before: ours, removed with our filters") {
    {
      auto a = NetdevAttachment::attach(NetdevFlavour::tc, ifindex, {prog.get(), prog.get()});
      REQUIRE(a.ok());
      CHECK(has_clsact(veth.host));
      CHECK(tc_filter_on(veth.host, "ingress"));
      CHECK(tc_filter_on(veth.host, "egress"));
      CHECK(tcx_attached(ifindex, BPF_TCX_INGRESS, id) == 0);
    }
    CHECK_FALSE(has_clsact(veth.host));
  }
  SECTION("a clsact qdisc of someone else's: it stays, our filters go") {
    sh("tc qdisc add dev " + veth.host + " clsact");
    {
      auto a = NetdevAttachment::attach(NetdevFlavour::tc, ifindex, {prog.get(), -1});
      REQUIRE(a.ok());
      CHECK(tc_filter_on(veth.host, "ingress"));
      CHECK_FALSE(tc_filter_on(veth.host, "egress"));
    }
    CHECK(has_clsact(veth.host));
    CHECK_FALSE(tc_filter_on(veth.host, "ingress"));
  }
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
  REQUIRE(ns.run_inside([&] {
    auto a = NetdevAttachment::attach(NetdevFlavour::tc, std::stoi(index), {prog.get(), prog.get()});
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
