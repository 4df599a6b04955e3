// devices — see devices.h. The allowlist, its two kernel encodings.
#include "common/devices.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/error.h"
#include "common/narrate.h"

namespace nslab::devices {
namespace {

// include/uapi/linux/bpf.h: BPF_DEVCG_DEV_BLOCK/CHAR, BPF_DEVCG_ACC_MKNOD/READ/WRITE.
constexpr int kDevBlock = 1, kDevChar = 2;
constexpr int kAccMknod = 1, kAccRead = 2, kAccWrite = 4;

int AccessBits(const std::string& access) {
  int bits = 0;
  for (char c : access) {
    if (c == 'r') bits |= kAccRead;
    else if (c == 'w') bits |= kAccWrite;
    else if (c == 'm') bits |= kAccMknod;
    else throw UsageError("device rule: access \"" + access + "\" (use r, w and m)");
  }
  return bits;
}

bpf_insn Insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
  bpf_insn i{};
  i.code = code;
  i.dst_reg = dst & 0xf;
  i.src_reg = src & 0xf;
  i.off = off;
  i.imm = imm;
  return i;
}
// The handful of instructions the program needs (the kernel's BPF_* helper macros
// live in a header that is not exported to user space: filter.h).
bpf_insn LoadWord(uint8_t dst, uint8_t src, int16_t off) {
  return Insn(BPF_LDX | BPF_MEM | BPF_W, dst, src, off, 0);
}
bpf_insn Alu32Imm(uint8_t op, uint8_t dst, int32_t imm) {
  return Insn(BPF_ALU | op | BPF_K, dst, 0, 0, imm);
}
bpf_insn Mov64Reg(uint8_t dst, uint8_t src) { return Insn(BPF_ALU64 | BPF_MOV | BPF_X, dst, src, 0, 0); }
bpf_insn Mov64Imm(uint8_t dst, int32_t imm) { return Insn(BPF_ALU64 | BPF_MOV | BPF_K, dst, 0, 0, imm); }
bpf_insn JumpIfNotEqual(uint8_t dst, int32_t imm, int16_t off) {
  return Insn(BPF_JMP | BPF_JNE | BPF_K, dst, 0, off, imm);
}
bpf_insn Exit() { return Insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0); }

long Bpf(int cmd, union bpf_attr* attr) {
  return syscall(SYS_bpf, cmd, attr, sizeof *attr);
}

}  // namespace

std::vector<Rule> DefaultAllowList() {
  return {
      {'c', -1, -1, "m"}, {'b', -1, -1, "m"},                       // mknod, never open
      {'c', 1, 3, "rwm"}, {'c', 1, 5, "rwm"}, {'c', 1, 7, "rwm"},   // null zero full
      {'c', 1, 8, "rwm"}, {'c', 1, 9, "rwm"},                       // random urandom
      {'c', 5, 0, "rwm"}, {'c', 5, 2, "rwm"}, {'c', 136, -1, "rwm"},  // tty ptmx pts/N
      {'c', 10, 200, "rwm"},                                        // net/tun
  };
}

std::string Format(const Rule& rule) {
  if (rule.type != 'a' && rule.type != 'c' && rule.type != 'b')
    throw UsageError(std::string("device rule: type '") + rule.type + "' (use c, b or a)");
  AccessBits(rule.access);
  if (rule.type == 'a') return "a";
  auto num = [](int n) { return n < 0 ? std::string("*") : std::to_string(n); };
  return std::string(1, rule.type) + " " + num(rule.major) + ":" + num(rule.minor) + " " +
         rule.access;
}

void ApplyV1(const std::string& dir, const std::vector<Rule>& rules) {
  // Deny everything first, then open the holes: a moment with the list half written
  // denies too much, never too little.
  narrate::Syscall("write", "\"a\" > " + dir + "/devices.deny");
  {
    UniqueFd deny = Open(dir + "/devices.deny", O_WRONLY);
    WriteAll(deny.Get(), "a", dir + "/devices.deny");
  }
  UniqueFd allow = Open(dir + "/devices.allow", O_WRONLY);
  for (const Rule& r : rules) {
    // One rule per write(2): the controller parses exactly one per call.
    const std::string line = Format(r);
    Check(write(allow.Get(), line.data(), line.size()), "write", dir + "/devices.allow " + line);
  }
}

std::vector<bpf_insn> BuildProgram(const std::vector<Rule>& rules) {
  // r1 = ctx. r2 = type, r3 = access, r4 = major, r5 = minor (crun's layout).
  std::vector<bpf_insn> p = {
      LoadWord(BPF_REG_2, BPF_REG_1, 0),  Alu32Imm(BPF_AND, BPF_REG_2, 0xffff),
      LoadWord(BPF_REG_3, BPF_REG_1, 0),  Alu32Imm(BPF_RSH, BPF_REG_3, 16),
      LoadWord(BPF_REG_4, BPF_REG_1, 4),  LoadWord(BPF_REG_5, BPF_REG_1, 8),
  };
  for (const Rule& r : rules) {
    Format(r);  // validates
    // One block per rule: each test jumps to the end of the block on a mismatch;
    // reaching its last two instructions means "allow".
    std::vector<bpf_insn> block;
    if (r.type != 'a') block.push_back(JumpIfNotEqual(BPF_REG_2, r.type == 'c' ? kDevChar : kDevBlock, 0));
    const int bits = AccessBits(r.access);
    if (bits != (kAccMknod | kAccRead | kAccWrite)) {
      // Any access bit the rule does not grant makes it not match: (access & ~bits) != 0.
      block.push_back(Mov64Reg(BPF_REG_1, BPF_REG_3));
      block.push_back(Alu32Imm(BPF_AND, BPF_REG_1, ~bits));
      block.push_back(JumpIfNotEqual(BPF_REG_1, 0, 0));
    }
    if (r.type != 'a' && r.major >= 0) block.push_back(JumpIfNotEqual(BPF_REG_4, r.major, 0));
    if (r.type != 'a' && r.minor >= 0) block.push_back(JumpIfNotEqual(BPF_REG_5, r.minor, 0));
    block.push_back(Mov64Imm(BPF_REG_0, 1));
    block.push_back(Exit());
    // Each jump's offset counts the instructions after it, up to the block's end.
    for (size_t i = 0; i < block.size(); ++i)
      if (block[i].code == (BPF_JMP | BPF_JNE | BPF_K))
        block[i].off = static_cast<int16_t>(block.size() - i - 1);
    p.insert(p.end(), block.begin(), block.end());
  }
  p.push_back(Mov64Imm(BPF_REG_0, 0));  // no rule matched: deny
  p.push_back(Exit());
  return p;
}

UniqueFd LoadProgram(const std::vector<bpf_insn>& program) {
  static char log[16384];
  log[0] = '\0';
  union bpf_attr attr;
  std::memset(&attr, 0, sizeof attr);
  attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
  attr.insns = reinterpret_cast<uint64_t>(program.data());
  attr.insn_cnt = static_cast<uint32_t>(program.size());
  attr.license = reinterpret_cast<uint64_t>("GPL");
  attr.log_buf = reinterpret_cast<uint64_t>(log);
  attr.log_size = sizeof log;
  attr.log_level = 1;
  narrate::Syscall("bpf", "BPF_PROG_LOAD, BPF_PROG_TYPE_CGROUP_DEVICE, " +
                              std::to_string(program.size()) + " instructions");
  long fd = Bpf(BPF_PROG_LOAD, &attr);
  if (fd < 0) {
    int err = errno;
    std::string first(log);
    first = first.substr(0, first.find('\n'));
    throw SysError(err, "bpf", "BPF_PROG_LOAD",
                   first.empty() ? "needs CAP_BPF or CAP_SYS_ADMIN" : "verifier: " + first);
  }
  return UniqueFd(static_cast<int>(fd));
}

void AttachProgram(const std::string& dir, int program_fd) {
  UniqueFd cg = Open(dir, O_RDONLY | O_DIRECTORY);
  union bpf_attr attr;
  std::memset(&attr, 0, sizeof attr);
  attr.target_fd = static_cast<uint32_t>(cg.Get());
  attr.attach_bpf_fd = static_cast<uint32_t>(program_fd);
  attr.attach_type = BPF_CGROUP_DEVICE;
  attr.attach_flags = BPF_F_ALLOW_MULTI;
  narrate::Syscall("bpf", "BPF_PROG_ATTACH, \"" + dir + "\", BPF_CGROUP_DEVICE, BPF_F_ALLOW_MULTI");
  Check(static_cast<int>(Bpf(BPF_PROG_ATTACH, &attr)), "bpf", "BPF_PROG_ATTACH " + dir);
}

std::string ProtectCgroup(const std::string& dir) {
  struct statfs sf;
  Check(statfs(dir.c_str(), &sf), "statfs", dir);
  if (sf.f_type == CGROUP2_SUPER_MAGIC) {
    UniqueFd prog = LoadProgram(BuildProgram(DefaultAllowList()));
    AttachProgram(dir, prog.Get());  // the attachment holds the program, not our fd
    return "bpf";
  }
  if (access((dir + "/devices.deny").c_str(), F_OK) == 0) {
    ApplyV1(dir, DefaultAllowList());
    return "v1";
  }
  return "";
}

}  // namespace nslab::devices
