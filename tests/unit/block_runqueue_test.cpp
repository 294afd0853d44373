// The block and runqueue modules' pieces without a kernel: disk names from a sysfs tree the test
// builds, the operation mapping both sides compile (kernel/block.h), block status names, and the
// modules' configuration errors.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "config/config.h"
#include "kernel/block.h"
#include "labels/block.h"

using namespace bpfex;
using namespace bpfex::labels;

namespace {

// A fake sysfs: dev/block/M:m links into devices/, as the kernel lays them out.
struct FakeSysfs {
  std::filesystem::path root =
      std::filesystem::temp_directory_path() / ("bpfex-sysfs-" + std::to_string(std::random_device{}()));
  FakeSysfs() { std::filesystem::create_directories(root / "dev" / "block"); }
  ~FakeSysfs() { std::filesystem::remove_all(root); }
  // A disk at devices/<parent>/block/<name>, with partitions below it when part is given.
  void add(const std::string& majmin, const std::string& device_path, bool partition = false) {
    std::filesystem::create_directories(root / device_path);
    if (partition) std::ofstream(root / device_path / "partition") << "1\n";
    std::filesystem::create_directory_symlink("../../" + device_path, root / "dev" / "block" / majmin);
  }
};

uint32_t mkdev(uint32_t major, uint32_t minor) { return (major << BLOCK_MINOR_BITS) | minor; }

std::vector<ConfigError> errors_of(const std::string& module, const std::string& options) {
  auto r = parse_config("modules:\n  " + module + ":\n" + options, "test.yaml");
  REQUIRE(std::holds_alternative<std::vector<ConfigError>>(r));
  return std::get<std::vector<ConfigError>>(r);
}

std::string only_error(const std::string& module, const std::string& options) {
  auto errors = errors_of(module, options);
  REQUIRE(errors.size() == 1);
  const auto& e = errors[0];
  return std::to_string(e.line) + ":" + std::to_string(e.column) + " " + e.key + ": " + e.message;
}

bool valid(const std::string& module, const std::string& options) {
  return std::holds_alternative<Config>(parse_config("modules:\n  " + module + ":\n" + options, "test.yaml"));
}

}  // namespace

TEST_CASE("block device names: a disk's number gives its kernel name, a partition's its disk's") {
  FakeSysfs sys;
  sys.add("253:0", "devices/pci0000:00/0000:00:04.0/virtio1/block/vda");
  sys.add("253:1", "devices/pci0000:00/0000:00:04.0/virtio1/block/vda/vda1", true);
  sys.add("259:0", "devices/pci0000:00/0000:00:05.0/nvme/nvme0/nvme0n1");
  sys.add("259:3", "devices/pci0000:00/0000:00:05.0/nvme/nvme0/nvme0n1/nvme0n1p2", true);
  sys.add("7:3", "devices/virtual/block/loop3");
  sys.add("7:300", "devices/virtual/block/loop300");
  const std::string root = sys.root;
  CHECK(block_device_name(mkdev(253, 0), root) == "vda");
  CHECK(block_device_name(mkdev(253, 1), root) == "vda");
  CHECK(block_device_name(mkdev(259, 0), root) == "nvme0n1");
  CHECK(block_device_name(mkdev(259, 3), root) == "nvme0n1");
  CHECK(block_device_name(mkdev(7, 3), root) == "loop3");
  CHECK(block_device_name(mkdev(7, 300), root) == "loop300");
  // Gone (or never there): nothing.
  CHECK_FALSE(block_device_name(mkdev(7, 4), root));
  CHECK_FALSE(block_device_name(mkdev(8, 0), root));
  // The minor is 20 bits: 1048575 is a valid minor, not a major.
  sys.add("7:1048575", "devices/virtual/block/loopbig");
  CHECK(block_device_name(mkdev(7, 1048575), root) == "loopbig");
}

TEST_CASE("block device names: the real sysfs names the machine's own disks") {
  // Whatever disks this machine has: each /sys/block entry's dev file names it back.
  size_t checked = 0;
  for (const auto& e : std::filesystem::directory_iterator("/sys/block")) {
    std::ifstream dev(e.path() / "dev");
    uint32_t major = 0, minor = 0;
    char colon = 0;
    if (!(dev >> major >> colon >> minor)) continue;
    CHECK(block_device_name(mkdev(major, minor)) == e.path().filename().string());
    ++checked;
  }
  if (checked == 0) WARN("no block devices in /sys/block here");
}

TEST_CASE("block operations: a request's REQ_OP code maps to read, write, flush, discard or other") {
  // REQ_OP_READ 0, WRITE 1, FLUSH 2, DISCARD 3, SECURE_ERASE 5, ZONE_APPEND 7, WRITE_ZEROES 9,
  // ZONE_RESET 13, DRV_IN 34, DRV_OUT 35; flags live above the low 8 bits.
  CHECK(block_op_of_cmd_flags(0) == BLOCK_OP_READ);
  CHECK(block_op_of_cmd_flags(1) == BLOCK_OP_WRITE);
  CHECK(block_op_of_cmd_flags(2) == BLOCK_OP_FLUSH);
  CHECK(block_op_of_cmd_flags(3) == BLOCK_OP_DISCARD);
  for (uint32_t op : {5u, 7u, 9u, 13u, 34u, 35u}) CHECK(block_op_of_cmd_flags(op) == BLOCK_OP_OTHER);
  CHECK(block_op_of_cmd_flags(1u | (1u << 11) | (1u << 17)) == BLOCK_OP_WRITE);  // sync, FUA, ...
  CHECK(block_op_of_cmd_flags(2u | (1u << 18)) == BLOCK_OP_FLUSH);               // preflush flag
  CHECK(block_op_label(BLOCK_OP_READ) == "read");
  CHECK(block_op_label(BLOCK_OP_WRITE) == "write");
  CHECK(block_op_label(BLOCK_OP_FLUSH) == "flush");
  CHECK(block_op_label(BLOCK_OP_DISCARD) == "discard");
  CHECK(block_op_label(BLOCK_OP_OTHER) == "other");
  CHECK(block_op_label(BLOCK_OP_COUNT) == "other");
}

TEST_CASE("block operations: the tracepoints' rwbs text maps the same way") {
  auto op = [](const char* rwbs) {
    const size_t n = std::strlen(rwbs);
    return block_op_of_rwbs(rwbs[0], n > 1 ? rwbs[1] : '\0', n > 2 ? rwbs[2] : '\0');
  };
  CHECK(op("R") == BLOCK_OP_READ);
  CHECK(op("RA") == BLOCK_OP_READ);
  CHECK(op("RSM") == BLOCK_OP_READ);
  CHECK(op("W") == BLOCK_OP_WRITE);
  CHECK(op("WS") == BLOCK_OP_WRITE);
  CHECK(op("WFS") == BLOCK_OP_WRITE);  // FUA write
  CHECK(op("FWS") == BLOCK_OP_WRITE);  // preflush + write
  CHECK(op("FWFS") == BLOCK_OP_WRITE);
  CHECK(op("F") == BLOCK_OP_FLUSH);
  CHECK(op("FF") == BLOCK_OP_FLUSH);  // preflush + flush, or flush + FUA
  CHECK(op("FS") == BLOCK_OP_FLUSH);
  CHECK(op("FFS") == BLOCK_OP_FLUSH);
  CHECK(op("D") == BLOCK_OP_DISCARD);
  CHECK(op("DS") == BLOCK_OP_DISCARD);
  CHECK(op("DE") == BLOCK_OP_OTHER);  // secure erase
  CHECK(op("N") == BLOCK_OP_OTHER);
  CHECK(op("FN") == BLOCK_OP_OTHER);
  CHECK(op("") == BLOCK_OP_OTHER);
}

TEST_CASE("block statuses: named as the block layer names them, on either side of Linux 6.10") {
  const KernelRelease k61{6, 1}, k612{6, 12}, k518{5, 18};
  CHECK(block_status_label(10, k61) == "BLK_STS_IOERR");
  CHECK(block_status_label(10, k612) == "BLK_STS_IOERR");
  CHECK(block_status_label(1, k61) == "BLK_STS_NOTSUPP");
  CHECK(block_status_label(2, k61) == "BLK_STS_TIMEOUT");
  CHECK(block_status_label(3, k612) == "BLK_STS_NOSPC");
  CHECK(block_status_label(6, k61) == "BLK_STS_RESV_CONFLICT");
  CHECK(block_status_label(7, k61) == "BLK_STS_MEDIUM");
  CHECK(block_status_label(13, k612) == "BLK_STS_DEV_RESOURCE");
  // BLK_STS_ZONE_RESOURCE (14) went in 6.10 and the statuses after it moved down by one.
  CHECK(block_status_label(14, k61) == "BLK_STS_ZONE_RESOURCE");
  CHECK(block_status_label(14, k612) == "BLK_STS_ZONE_OPEN_RESOURCE");
  CHECK(block_status_label(17, k61) == "BLK_STS_OFFLINE");
  CHECK(block_status_label(17, k518) == "BLK_STS_OFFLINE");
  CHECK(block_status_label(16, k612) == "BLK_STS_OFFLINE");
  CHECK(block_status_label(18, k61) == "BLK_STS_DURATION_LIMIT");
  CHECK(block_status_label(17, k612) == "BLK_STS_DURATION_LIMIT");
  CHECK(block_status_label(19, k612) == "BLK_STS_INVAL");
  CHECK(block_status_label(18, k612) == "BLK_STS_INVAL");
  // Numbers no table has stay numbers (bounded: a blk_status_t is a byte).
  CHECK(block_status_label(200, k612) == "BLK_STS_200");
  CHECK(block_status_label(19, k61) == "BLK_STS_19");
}

TEST_CASE("block statuses: an errno from the tracepoint record names its status") {
  const KernelRelease any{6, 1};
  CHECK(block_status_label(BLOCK_ERROR_ERRNO + EIO, any) == "BLK_STS_IOERR");
  CHECK(block_status_label(BLOCK_ERROR_ERRNO + ENOSPC, any) == "BLK_STS_NOSPC");
  CHECK(block_status_label(BLOCK_ERROR_ERRNO + ETIMEDOUT, any) == "BLK_STS_TIMEOUT");
  CHECK(block_status_label(BLOCK_ERROR_ERRNO + EOPNOTSUPP, any) == "BLK_STS_NOTSUPP");
  CHECK(block_status_label(BLOCK_ERROR_ERRNO + ENODEV, any) == "BLK_STS_OFFLINE");
  CHECK(block_status_label(BLOCK_ERROR_ERRNO + EINVAL, any) == "BLK_STS_INVAL");
  CHECK(block_status_label(BLOCK_ERROR_ERRNO + EAGAIN, any) == "BLK_STS_AGAIN");
  CHECK(block_status_label(BLOCK_ERROR_ERRNO + EPERM, any) == "EPERM");  // no status makes it
}

TEST_CASE("kernel releases: major and minor from uname's text") {
  CHECK(parse_kernel_release("6.12.107+deb12-amd64").major == 6);
  CHECK(parse_kernel_release("6.12.107+deb12-amd64").minor == 12);
  CHECK(parse_kernel_release("6.1.0-57-amd64").minor == 1);
  CHECK(parse_kernel_release("5.10.0").major == 5);
  CHECK(parse_kernel_release("nonsense").major == 0);
  CHECK(running_kernel_release().major >= 5);
}

TEST_CASE("block config: valid options and errors with line, column and key") {
  CHECK(valid("block", "    include_queue_time: true\n    max_devices: 4\n"));
  CHECK(valid("block", "    min_bucket: 10us\n    max_bucket: 1m\n"));
  CHECK(only_error("block", "    include_queue_time: sometimes\n") ==
        "3:25 modules.block.include_queue_time: expected true or false, got \"sometimes\"");
  CHECK(only_error("block", "    max_devices: 0\n") ==
        "3:18 modules.block.max_devices: must be between 1 and 65536, got 0");
  // 1ns rounds down to the lowest classic bound, 2^-30s: 60 buckets at the default schema.
  CHECK(valid("block", "    min_bucket: 1ns\n    max_bucket: 1s\n"));
  CHECK(only_error("block", "    max_bucket: 2000s\n") ==
        "3:17 modules.block.max_bucket: bucket bound \"2000s\" is above the limit of 2^10s (1024s, about 17m)");
  CHECK(only_error("block", "    device: vda\n") == "3:5 modules.block.device: unknown key");
}

TEST_CASE("runqueue config: valid options and errors with line, column and key") {
  CHECK(valid("runqueue", "    comms: [nginx, postgres]\n    cgroup: /system.slice\n    by_workload: false\n"));
  CHECK(valid("runqueue", "    min_bucket: 1ns\n    max_bucket: 512ms\n"));
  CHECK(only_error("runqueue", "    comms: [ok, waytoolongforacomm]\n") ==
        "3:17 modules.runqueue.comms: task name \"waytoolongforacomm\" is longer than 15 bytes (the kernel truncates "
        "task names there)");
  CHECK(only_error("runqueue", "    min_bucket: 1ms\n    max_bucket: 1us\n") ==
        "4:17 modules.runqueue.max_bucket: max_bucket must be above min_bucket (1ms)");
  // Both round to 2^-10s: an empty range.
  CHECK(only_error("runqueue", "    min_bucket: 1ms\n    max_bucket: 976us\n") ==
        "4:17 modules.runqueue.max_bucket: max_bucket must be above min_bucket (1ms)");
  CHECK(only_error("runqueue", "    max_workload_rows: -1\n") ==
        "3:24 modules.runqueue.max_workload_rows: expected an unsigned integer, got \"-1\"");
  CHECK(only_error("runqueue", "    include: [read]\n") == "3:5 modules.runqueue.include: unknown key");
}
