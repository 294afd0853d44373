// loader/hooks: HookSet attaches each tracing flavour for real, counted exactly, with a BPF object of
// the test's own (flavours.bpf.c: one program per flavour on getpgid), the flavours no built-in
// module uses (fentry, kprobe) included. Flavours this kernel lacks are said, and covered by the
// guest kernels (tests/guest).
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>

#include "helpers.h"
#include "loader/features.h"
#include "loader/hooks.h"
#include "loader/skeleton.h"
#include "skel/flavours.skel.h"

using namespace bpfex;
using namespace bpfex::test;

namespace {

constexpr Flavour kAll[] = {Flavour::fentry, Flavour::fexit,  Flavour::kprobe,    Flavour::kretprobe,
                            Flavour::tp_btf, Flavour::raw_tp, Flavour::tracepoint};

uint64_t calls(const flavours_bpf* skel, Flavour f) {
  switch (f) {
    case Flavour::fentry: return skel->bss->fentry_calls;
    case Flavour::fexit: return skel->bss->fexit_calls;
    case Flavour::kprobe: return skel->bss->kprobe_calls;
    case Flavour::kretprobe: return skel->bss->kretprobe_calls;
    case Flavour::tp_btf: return skel->bss->tp_btf_calls;
    case Flavour::raw_tp: return skel->bss->raw_tp_calls;
    case Flavour::tracepoint: return skel->bss->tracepoint_calls;
  }
  return 0;
}

}  // namespace

TEST_CASE("hooks: every tracing flavour attaches through HookSet and counts exactly", "[hooks]") {
  KernelFeatures kernel;
  const std::string symbol = kernel.syscall_symbol("getpgid");
  // One hook, every flavour: the one left after denying the others is the one attached.
  const std::vector<Hook> hooks = {{"getpgid",
                                    {{Flavour::fentry, "getpgid_fentry", symbol},
                                     {Flavour::fexit, "getpgid_fexit", symbol},
                                     {Flavour::kprobe, "getpgid_kprobe", symbol},
                                     {Flavour::kretprobe, "getpgid_kretprobe", symbol},
                                     {Flavour::tp_btf, "getpgid_tp_btf", "sys_enter"},
                                     {Flavour::raw_tp, "getpgid_raw_tp", "sys_enter"},
                                     {Flavour::tracepoint, "getpgid_tracepoint", "syscalls/sys_enter_getpgid"}}}};
  for (size_t i = 0; i < hooks[0].attach_points.size(); ++i) {
    const Flavour want = kAll[i];
    INFO("flavour " << flavour_name(want));
    if (!kernel.can_attach(want, hooks[0].attach_points[i].target)) {
      WARN("this kernel cannot attach " << flavour_name(want) << ": the guest kernels (tests/guest) cover it");
      continue;
    }
    std::vector<Flavour> others;
    std::copy_if(std::begin(kAll), std::end(kAll), std::back_inserter(others), [&](Flavour f) { return f != want; });
    RestrictedFeatures only(kernel, others);
    auto opened = Skeleton<flavours_bpf>::open();
    REQUIRE(opened.ok());
    Skeleton<flavours_bpf> skel = std::move(opened.value());
    skel->rodata->tgid = static_cast<__u32>(getpid());
    skel->rodata->getpgid_nr = SYS_getpgid;
    HookSet set;  // after skel: its links go first
    Status st = set.prepare(skel.object(), hooks, only);
    REQUIRE(st.ok());
    CHECK(set.chosen_index(0) == i);
    st = skel.load();
    if (!st) FAIL("load: " << st.error().str());
    st = set.attach();
    if (!st) FAIL("attach: " << st.error().str());
    const auto programs = set.programs();
    report_attached("hooks_test", programs);
    REQUIRE(programs.size() == 1);
    CHECK(programs[0].flavour == flavour_name(want));
    constexpr int kCalls = 37;
    for (int c = 0; c < kCalls; ++c) syscall(SYS_getpgid, 0);
    for (Flavour f : kAll) CHECK(calls(skel.get(), f) == (f == want ? kCalls : 0u));
  }
}
