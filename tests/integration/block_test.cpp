// The block module with real block I/O: a loop device of the test's own (a new index, backed by a
// file), O_DIRECT reads and writes of known sizes, flushes, a partition, writes that fail because
// the backing file's tmpfs is full, and the device's removal.
#include <fcntl.h>
#include <linux/blkpg.h>
#include <linux/fs.h>
#include <linux/loop.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "base/fd.h"
#include "helpers.h"
#include "labels/block.h"
#include "loader/features.h"

using namespace bpfex;
using namespace bpfex::test;
using namespace std::chrono_literals;

namespace {

// A loop device made for the test (LOOP_CTL_ADD at an index nothing else uses), backed by `backing`;
// detached and removed (LOOP_CTL_REMOVE: its gendisk goes away) by remove() or the destructor.
class LoopDevice {
 public:
  explicit LoopDevice(const std::string& backing, bool partscan = false) {
    // Where loop is a module and nothing loaded it yet (a fresh guest kernel without udev).
    if (!std::filesystem::exists("/dev/loop-control")) REQUIRE(std::system("modprobe loop") == 0);
    Fd control(::open("/dev/loop-control", O_RDWR | O_CLOEXEC));
    REQUIRE(control);
    for (int i = 0; i < 100 && index_ < 0; ++i) {
      const int want = 300 + static_cast<int>(std::hash<std::string>{}(unique_token()) % 600);
      if (ioctl(control.get(), LOOP_CTL_ADD, want) >= 0) index_ = want;
    }
    REQUIRE(index_ >= 0);
    name_ = "loop" + std::to_string(index_);
    // devtmpfs makes the node; wait for it.
    for (int i = 0; i < 500 && !std::filesystem::exists(path()); ++i) std::this_thread::sleep_for(2ms);
    Fd file(::open(backing.c_str(), O_RDWR | O_CLOEXEC));
    REQUIRE(file);
    dev_fd_ = Fd(::open(path().c_str(), O_RDWR | O_CLOEXEC));
    REQUIRE(dev_fd_);
    loop_config config{};
    config.fd = static_cast<__u32>(file.get());
    config.info.lo_flags = partscan ? LO_FLAGS_PARTSCAN : 0;
    REQUIRE(ioctl(dev_fd_.get(), LOOP_CONFIGURE, &config) == 0);
  }
  ~LoopDevice() { remove(); }
  LoopDevice(const LoopDevice&) = delete;
  LoopDevice& operator=(const LoopDevice&) = delete;

  const std::string& name() const { return name_; }
  std::string path(const std::string& suffix = "") const { return "/dev/" + name_ + suffix; }
  uint32_t dev() const {
    struct stat st {};
    REQUIRE(stat(path().c_str(), &st) == 0);
    return (major(st.st_rdev) << 20) | minor(st.st_rdev);
  }

  void remove() {
    if (index_ < 0) return;
    ioctl(dev_fd_.get(), LOOP_CLR_FD, 0);
    dev_fd_.reset();
    Fd control(::open("/dev/loop-control", O_RDWR | O_CLOEXEC));
    // The detach completes when the last opener is gone: retry while the device is busy.
    for (int i = 0; i < 500; ++i) {
      if (ioctl(control.get(), LOOP_CTL_REMOVE, index_) >= 0 || errno != EBUSY) break;
      std::this_thread::sleep_for(10ms);
    }
    index_ = -1;
  }

 private:
  int index_ = -1;
  std::string name_;
  Fd dev_fd_;
};

// A file of size bytes (sparse) in a fresh directory, removed with it.
struct BackingFile {
  std::filesystem::path dir = std::filesystem::temp_directory_path() / ("bpfex-block-" + unique_token());
  std::string path = dir / "disk.img";
  // tmpfs_bytes: put the directory on a tmpfs of that size (0: the temp directory's file system).
  explicit BackingFile(off_t size, size_t tmpfs_bytes = 0) {
    std::filesystem::create_directories(dir);
    if (tmpfs_bytes) {
      const std::string options = "size=" + std::to_string(tmpfs_bytes);
      REQUIRE(mount("bpfex-test", dir.c_str(), "tmpfs", 0, options.c_str()) == 0);
      mounted = true;
    }
    Fd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    REQUIRE(fd);
    REQUIRE(ftruncate(fd.get(), size) == 0);
  }
  ~BackingFile() {
    if (mounted) umount2(dir.c_str(), MNT_DETACH);
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  bool mounted = false;
};

// O_DIRECT I/O on a block device node, with a page-aligned buffer.
class Direct {
 public:
  explicit Direct(const std::string& path) : fd_(::open(path.c_str(), O_RDWR | O_DIRECT | O_CLOEXEC)) {
    REQUIRE(fd_);
    REQUIRE(posix_memalign(&buf_, 4096, kMax) == 0);
    std::memset(buf_, 0xab, kMax);
  }
  ~Direct() { free(buf_); }
  Direct(const Direct&) = delete;
  Direct& operator=(const Direct&) = delete;
  void read(size_t bytes, off_t at) { REQUIRE(pread(fd_.get(), buf_, bytes, at) == static_cast<ssize_t>(bytes)); }
  void write(size_t bytes, off_t at) { REQUIRE(pwrite(fd_.get(), buf_, bytes, at) == static_cast<ssize_t>(bytes)); }
  // A write that must fail; returns its errno.
  int failing_write(size_t bytes, off_t at) {
    const ssize_t n = pwrite(fd_.get(), buf_, bytes, at);
    REQUIRE(n < 0);
    return errno;
  }
  void flush() { REQUIRE(fsync(fd_.get()) == 0); }
  // A write whose outcome is not known in advance: whether it failed.
  bool try_write(size_t bytes, off_t at) { return pwrite(fd_.get(), buf_, bytes, at) < 0; }

  static constexpr size_t kMax = size_t{256} * 1024;

 private:
  Fd fd_;
  void* buf_ = nullptr;
};

struct Series {
  uint64_t requests = 0;
  double sum = 0;
  double bytes = 0;
  std::vector<Histogram::Bucket> buckets;
};

Series series(const Families& families, const std::string& device, const std::string& op) {
  Series s;
  for (const auto& f : families) {
    for (const auto& m : f.metric) {
      if (m.label.size() < 2 || m.label[0].value != device || m.label[1].value != op) continue;
      if (f.name == "bpfex_block_io_latency_seconds") {
        s.requests = m.histogram.sample_count;
        s.sum = m.histogram.sample_sum;
        s.buckets = m.histogram.classic_buckets();
      } else if (f.name == "bpfex_block_io_bytes_total") {
        s.bytes = m.value;
      }
    }
  }
  return s;
}

// Series of a family with this device label.
size_t series_of_device(const Families& families, const std::string& device) {
  size_t n = 0;
  for (const auto& f : families)
    for (const auto& m : f.metric)
      if (!m.label.empty() && m.label[0].value == device) ++n;
  return n;
}

double errors_of(const Families& families, const std::string& device, const std::string& op, const std::string& error) {
  return value_of(families, "bpfex_block_io_errors_total", {device, op, error});
}

// Reads and writes of sizes the loop device takes as one request each (at most max_sectors_kb).
const std::vector<size_t> kReadSizes = {4096, 16384, 65536, 4096, 8192, 32768, 512, 4096};
const std::vector<size_t> kWriteSizes = {8192, 4096, 65536, 1024};

}  // namespace

TEST_CASE("block: N O_DIRECT reads and writes are exactly N requests and their bytes, per operation", "[block]") {
  KernelFeatures kernel;
  struct Case {
    std::vector<Flavour> denied;
    std::string flavour;
  };
  for (const auto& c : std::vector<Case>{
           {{}, "tp_btf"}, {{Flavour::tp_btf}, "raw_tp"}, {{Flavour::tp_btf, Flavour::raw_tp}, "tracepoint"}}) {
    INFO("expected flavour " << c.flavour);
    RestrictedFeatures features(kernel, c.denied);
    auto m = start_module(module_config("block"), features);
    auto programs = m.module->programs();
    REQUIRE(programs.size() == 2);  // issue and completion; insert only with include_queue_time
    for (const auto& p : programs) CHECK(p.flavour == c.flavour);
    BackingFile file(64 << 20);
    LoopDevice loop(file.path);
    Direct io(loop.path());
    const Families before = m.read().families;
    size_t read_bytes = 0, written_bytes = 0;
    off_t at = 0;
    for (size_t n : kReadSizes) {
      io.read(n, at);
      read_bytes += n;
      at += 1 << 20;
    }
    for (size_t n : kWriteSizes) {
      io.write(n, at);
      written_bytes += n;
      at += 1 << 20;
    }
    const Families after = m.read().families;
    const Series r0 = series(before, loop.name(), "read"), r1 = series(after, loop.name(), "read");
    const Series w0 = series(before, loop.name(), "write"), w1 = series(after, loop.name(), "write");
    CHECK(r1.requests - r0.requests == kReadSizes.size());
    CHECK(r1.bytes - r0.bytes == read_bytes);
    CHECK(w1.requests - w0.requests == kWriteSizes.size());
    CHECK(w1.bytes - w0.bytes == written_bytes);
    CHECK(r1.sum > r0.sum);
    REQUIRE_FALSE(r1.buckets.empty());
    CHECK(std::isinf(r1.buckets.back().upper_bound));
    CHECK(r1.buckets.back().cumulative_count == r1.requests);
    CHECK(r1.buckets.size() == 26);  // 2^10..2^34 ns, then +Inf
    CHECK(errors_of(after, loop.name(), "read", "BLK_STS_IOERR") == 0);
  }
}

TEST_CASE("block: fsync of the device is a flush request", "[block]") {
  KernelFeatures features;
  auto m = start_module(module_config("block"), features);
  BackingFile file(16 << 20);
  LoopDevice loop(file.path);
  Direct io(loop.path());
  const Series before = series(m.read().families, loop.name(), "flush");
  constexpr int kFlushes = 5;
  for (int i = 0; i < kFlushes; ++i) {
    io.write(4096, off_t{i} * 8192);
    io.flush();
  }
  const Families after = m.read().families;
  CHECK(series(after, loop.name(), "flush").requests - before.requests == kFlushes);
  CHECK(series(after, loop.name(), "flush").bytes == 0);
  CHECK(series(after, loop.name(), "write").requests == kFlushes);
}

TEST_CASE("block: I/O to a partition counts on its disk", "[block]") {
  KernelFeatures features;
  auto m = start_module(module_config("block"), features);
  BackingFile file(16 << 20);
  // A partition added by BLKPG (no partition table parser needed: some kernels have none); the loop
  // device takes partitions only with LO_FLAGS_PARTSCAN.
  LoopDevice loop(file.path, true);
  {
    Fd disk(::open(loop.path().c_str(), O_RDWR | O_CLOEXEC));
    REQUIRE(disk);
    blkpg_partition partition{};
    partition.start = 1 << 20;
    partition.length = 4 << 20;
    partition.pno = 1;
    blkpg_ioctl_arg arg{};
    arg.op = BLKPG_ADD_PARTITION;
    arg.datalen = sizeof partition;
    arg.data = &partition;
    REQUIRE(ioctl(disk.get(), BLKPG, &arg) == 0);
  }
  const std::string part = loop.path("p1");
  for (int i = 0; i < 500 && !std::filesystem::exists(part); ++i) std::this_thread::sleep_for(2ms);
  REQUIRE(std::filesystem::exists(part));
  // The partition's number names the disk.
  struct stat st {};
  REQUIRE(stat(part.c_str(), &st) == 0);
  CHECK(labels::block_device_name((major(st.st_rdev) << 20) | minor(st.st_rdev)) == loop.name());
  Direct io(part);
  const Series before = series(m.read().families, loop.name(), "read");
  for (int i = 0; i < 6; ++i) io.read(8192, off_t{i} * 65536);
  const Families after = m.read().families;
  CHECK(series(after, loop.name(), "read").requests - before.requests == 6);
  CHECK(series(after, loop.name(), "read").bytes - before.bytes == 6 * 8192);
  CHECK(series_of_device(after, loop.name() + "p1") == 0);
}

TEST_CASE("block: writes that fail are counted by the block status the writer got", "[block]") {
  KernelFeatures kernel;
  for (const auto& denied : std::vector<std::vector<Flavour>>{{}, {Flavour::tp_btf, Flavour::raw_tp}}) {
    INFO("denied flavours: " << denied.size());
    RestrictedFeatures features(kernel, denied);
    auto m = start_module(module_config("block"), features);
    // A 16 MB disk on a 256 KB tmpfs: what the loop device writes past that finds no room.
    BackingFile file(16 << 20, 256 << 10);
    LoopDevice loop(file.path);
    Direct io(loop.path());
    // Fill the tmpfs: writes to new places until one fails (how many succeed is the tmpfs's business).
    off_t at = 0;
    for (int i = 0; i < 64; ++i, at += 65536) {
      if (io.try_write(65536, at)) break;
    }
    const Families mid = m.read().families;
    constexpr int kFailures = 7;
    int err = 0;
    for (int i = 0; i < kFailures; ++i) {
      const int e = io.failing_write(65536, at + off_t{i + 1} * 65536);
      if (err == 0) err = e;
      CHECK(e == err);
    }
    const Families after = m.read().families;
    INFO("the writes failed with " << labels::block_status_label(0x100 + err, {}));
    const std::string status = err == ENOSPC ? "BLK_STS_NOSPC" : err == EIO ? "BLK_STS_IOERR" : "unexpected";
    REQUIRE(status != "unexpected");
    CHECK(errors_of(after, loop.name(), "write", status) - errors_of(mid, loop.name(), "write", status) == kFailures);
    // Failed requests still have a latency; their bytes are not counted.
    CHECK(series(after, loop.name(), "write").requests - series(mid, loop.name(), "write").requests == kFailures);
    CHECK(series(after, loop.name(), "write").bytes == series(mid, loop.name(), "write").bytes);
  }
}

TEST_CASE("block: a removed device's series are retired", "[block]") {
  KernelFeatures features;
  auto m = start_module(module_config("block"), features);
  BackingFile file(16 << 20);
  auto loop = std::make_unique<LoopDevice>(file.path);
  const std::string name = loop->name();
  {
    Direct io(loop->path());
    for (int i = 0; i < 3; ++i) io.read(4096, off_t{i} * 4096);
  }
  ModuleReading r = m.read();
  CHECK(series(r.families, name, "read").requests == 3);
  CHECK(r.retire_vanished_series);
  const uint32_t dev = loop->dev();
  REQUIRE(labels::block_device_name(dev) == name);
  loop->remove();
  REQUIRE_FALSE(labels::block_device_name(dev));
  loop.reset();
  r = m.read();
  CHECK(series_of_device(r.families, name) == 0);
  // The kernel rows went with it: a second reading has nothing of it either.
  CHECK(series_of_device(m.read().families, name) == 0);
}

TEST_CASE("block: past max_devices, disks count as device=\"other\" and as label overflow", "[block]") {
  KernelFeatures features;
  auto m = start_module(module_config("block", "    max_devices: 1\n"), features);
  BackingFile file_a(16 << 20), file_b(16 << 20);
  LoopDevice a(file_a.path), b(file_b.path);
  const Families before = m.read().families;
  constexpr uint64_t kReads = 3;
  {
    Direct io_a(a.path()), io_b(b.path());
    for (uint64_t i = 0; i < kReads; ++i) {
      io_a.read(4096, static_cast<off_t>(i * 4096));
      io_b.read(4096, static_cast<off_t>(i * 4096));
    }
  }
  const ModuleReading r = m.read();
  auto reads = [&](const std::string& device) {
    return series(r.families, device, "read").requests - series(before, device, "read").requests;
  };
  // One disk of the machine has the one name (one of ours, or one that did I/O first); a disk past
  // it is "other", which also holds whatever other disks did meanwhile.
  std::set<std::string> named;
  for (const auto& f : r.families)
    if (f.name == "bpfex_block_io_latency_seconds")
      for (const auto& s : f.metric)
        if (s.label[0].value != "other") named.insert(s.label[0].value);
  INFO("named: " << named.size() << ", ours: " << reads(a.name()) << " + " << reads(b.name()) << ", other "
                 << reads("other"));
  CHECK(named.size() == 1);
  CHECK(reads(a.name()) + reads(b.name()) <= kReads);  // at most one of the two has a name
  CHECK(reads(a.name()) + reads(b.name()) + reads("other") >= 2 * kReads);
  REQUIRE(r.label_overflows);
  CHECK(*r.label_overflows >= kReads);
}

TEST_CASE("block: include_queue_time measures from insertion, through the I/O scheduler", "[block]") {
  KernelFeatures features;
  auto m = start_module(module_config("block", "    include_queue_time: true\n"), features);
  CHECK(m.module->programs().size() == 3);
  BackingFile file(16 << 20);
  LoopDevice loop(file.path);
  // With an I/O scheduler every request is inserted before it is issued.
  std::ofstream("/sys/block/" + loop.name() + "/queue/scheduler") << "mq-deadline" << std::flush;
  Direct io(loop.path());
  const Series before = series(m.read().families, loop.name(), "read");
  for (int i = 0; i < 9; ++i) io.read(4096, off_t{i} * 65536);
  const Series after = series(m.read().families, loop.name(), "read");
  CHECK(after.requests - before.requests == 9);
  CHECK(after.bytes - before.bytes == 9 * 4096);
}

TEST_CASE("block: starting and destroying the module leaks no file descriptors", "[block]") {
  KernelFeatures features;
  { auto warm = start_module(module_config("block"), features); }
  const int before = open_fd_count();
  for (int i = 0; i < 3; ++i) auto m = start_module(module_config("block"), features);
  CHECK(open_fd_count() == before);
}
