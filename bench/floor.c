// floor — the kernel work of one container start and nothing else, in one process.
//
// bench/run runs it in the same comparison as nslab, crun, runc and bubblewrap, so the
// table shows how close each runtime gets to what the kernel itself costs. It does,
// with no error messages beyond one line, no state directory, no shim, no CLI parsing:
//
//   clone(CLONE_NEWUTS | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWNET)
//   child:  / private, a tmpfs for the overlay's upper and work dirs, an overlay root
//           (nodev, volatile) over LOWER, /proc, /dev (tmpfs nodev + bound nodes,
//           devpts), /sys read-only, pivot_root, the masked and read-only paths of
//           Docker's defaults, the hostname, lo up, the capability bounding set and
//           Docker's 14 capabilities, no_new_privs, a precompiled seccomp filter (a
//           deny list of the same size as nslab's), execve(CMD)
//   parent: waitpid, exit with the child's status
//
//   floor LOWER SCRATCH CMD [ARGS...]      (as root; SCRATCH: an empty directory)
//
// Read: clone(2), mount(2), pivot_root(2), capabilities(7), seccomp(2). Kept in C and
// free of any library so that nothing but system calls is timed.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef AUDIT_ARCH_X86_64
#define AUDIT_ARCH_X86_64 0xc000003e
#endif

static void die(const char* call, const char* arg) {
  fprintf(stderr, "floor: %s \"%s\": %s\n", call, arg, strerror(errno));
  _exit(125);
}

static void mnt(const char* src, const char* dst, const char* type, unsigned long flags,
                const char* data) {
  if (mount(src, dst, type, flags, data) != 0) die("mount", dst);
}

// Docker's 14 default capabilities (the same set as common/caps.cc).
static const int kKeep[] = {CAP_CHOWN,        CAP_DAC_OVERRIDE, CAP_FSETID,  CAP_FOWNER,
                            CAP_MKNOD,        CAP_NET_RAW,      CAP_SETGID,  CAP_SETUID,
                            CAP_SETFCAP,      CAP_SETPCAP,      CAP_NET_BIND_SERVICE,
                            CAP_SYS_CHROOT,   CAP_KILL,         CAP_AUDIT_WRITE};

// The syscalls nslab's seccomp table refuses (common/seccomp.cc), by number.
static const int kDeny[] = {
    SYS_keyctl,        SYS_add_key,         SYS_request_key,    SYS_kexec_load,
    SYS_kexec_file_load, SYS_init_module,   SYS_finit_module,   SYS_delete_module,
    SYS_open_by_handle_at, SYS_bpf,         SYS_perf_event_open, SYS_userfaultfd,
    SYS_io_uring_setup, SYS_io_uring_enter, SYS_io_uring_register, SYS_pivot_root,
    SYS_reboot,        SYS_swapon,          SYS_swapoff,        SYS_acct,
    SYS_settimeofday,  SYS_clock_settime,   SYS_clock_adjtime,  SYS_adjtimex,
    SYS_syslog,        SYS_iopl,            SYS_ioperm,         SYS_quotactl,
    SYS_lookup_dcookie, SYS_mount,          SYS_umount2,        SYS_unshare,
    SYS_setns,         SYS_sethostname,     SYS_setdomainname,  SYS_fsopen,
    SYS_fsmount,       SYS_fspick,          SYS_fsconfig,       SYS_move_mount,
    SYS_open_tree,     SYS_mount_setattr,
};

// The filter, built in a fixed array with no library: check the architecture, answer
// EPERM for each denied number, ENOSYS for clone3, and look at clone's flags and
// ioctl's command (TIOCSTI) as nslab's filter does.
static void load_seccomp(void) {
  struct sock_filter f[160];
  unsigned n = 0;
  const unsigned nr = offsetof(struct seccomp_data, nr);
  const unsigned arch = offsetof(struct seccomp_data, arch);
  const unsigned arg0 = offsetof(struct seccomp_data, args[0]);
  const unsigned arg1 = offsetof(struct seccomp_data, args[1]);
  f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, arch);
  f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0);
  f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
  f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, nr);
  for (size_t i = 0; i < sizeof kDeny / sizeof kDeny[0]; ++i) {
    f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, kDeny[i], 0, 1);
    f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM);
  }
  f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone3, 0, 1);
  f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS);
  // ioctl(fd, TIOCSTI): the low 32 bits of the command. Each block ends in its own
  // returns: loading an argument replaces the syscall number in the accumulator.
  f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_ioctl, 0, 4);
  f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, arg1);
  f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, TIOCSTI, 0, 1);
  f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM);
  f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  // clone(flags): any CLONE_NEW* bit in the low word of arg0 is refused.
  f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone, 0, 3);
  f[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, arg0);
  f[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K,
                                        CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC |
                                            CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET |
                                            CLONE_NEWCGROUP,
                                        0, 1);
  f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM);
  f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  struct sock_fprog prog = {.len = (unsigned short)n, .filter = f};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) die("prctl", "PR_SET_NO_NEW_PRIVS");
  if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) die("seccomp", "filter");
}

static void drop_caps(void) {
  unsigned long long keep = 0;
  for (size_t i = 0; i < sizeof kKeep / sizeof kKeep[0]; ++i) keep |= 1ULL << kKeep[i];
  for (int c = 0; c <= CAP_LAST_CAP; ++c)
    if (!(keep & (1ULL << c)) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0 && errno != EINVAL)
      die("prctl", "PR_CAPBSET_DROP");
  struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct d[2] = {{0}};
  d[0].effective = d[0].permitted = (unsigned)keep;
  d[1].effective = d[1].permitted = (unsigned)(keep >> 32);
  if (syscall(SYS_capset, &h, d) != 0) die("capset", "docker's 14");
}

static void lo_up(void) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) die("socket", "AF_INET");
  struct ifreq r;
  memset(&r, 0, sizeof r);
  strcpy(r.ifr_name, "lo");
  r.ifr_flags = IFF_UP | IFF_LOOPBACK | IFF_RUNNING;
  if (ioctl(s, SIOCSIFFLAGS, &r) != 0) die("ioctl", "SIOCSIFFLAGS lo");
  close(s);
}

static const char* const kMasked[] = {"/proc/acpi", "/proc/kcore", "/proc/keys",
                                      "/proc/latency_stats", "/proc/timer_list",
                                      "/proc/sched_debug", "/proc/scsi", "/sys/firmware"};
static const char* const kReadOnly[] = {"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
                                        "/proc/sysrq-trigger"};

static void masks(void) {
  struct stat st;
  for (size_t i = 0; i < sizeof kMasked / sizeof kMasked[0]; ++i) {
    if (lstat(kMasked[i], &st) != 0) continue;
    if (S_ISDIR(st.st_mode))
      mnt("tmpfs", kMasked[i], "tmpfs", MS_RDONLY, "size=0");
    else
      mnt("/dev/null", kMasked[i], NULL, MS_BIND, NULL);
  }
  for (size_t i = 0; i < sizeof kReadOnly / sizeof kReadOnly[0]; ++i) {
    if (lstat(kReadOnly[i], &st) != 0) continue;
    mnt(kReadOnly[i], kReadOnly[i], NULL, MS_BIND | MS_REC, NULL);
    mnt(NULL, kReadOnly[i], NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL);
  }
}

static void dev(const char* root) {
  char p[4096], q[4096];
  snprintf(p, sizeof p, "%s/dev", root);
  mnt("tmpfs", p, "tmpfs", MS_NOSUID | MS_NODEV | MS_STRICTATIME, "mode=755,size=65536k");
  static const char* const nodes[] = {"null", "zero", "full", "random", "urandom", "tty"};
  for (size_t i = 0; i < sizeof nodes / sizeof nodes[0]; ++i) {
    snprintf(p, sizeof p, "%s/dev/%s", root, nodes[i]);
    snprintf(q, sizeof q, "/dev/%s", nodes[i]);
    int fd = open(p, O_CREAT | O_WRONLY | O_CLOEXEC, 0666);
    if (fd < 0) die("open", p);
    close(fd);
    mnt(q, p, NULL, MS_BIND, NULL);  // a bind keeps the node usable on a nodev /dev
  }
  snprintf(p, sizeof p, "%s/dev/pts", root);
  if (mkdir(p, 0755) != 0) die("mkdir", p);
  mnt("devpts", p, "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620");
  snprintf(p, sizeof p, "%s/dev/ptmx", root);
  if (symlink("pts/ptmx", p) != 0) die("symlink", p);
}

static int child(const char* lower, const char* scratch, char** argv) {
  char up[2048], work[2048], root[2048], opts[8192], p[4096];
  mnt(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
  // The upper and work directories on a tmpfs of this mount namespace only.
  mnt("tmpfs", scratch, "tmpfs", 0, "mode=0755");
  snprintf(up, sizeof up, "%s/u", scratch);
  snprintf(work, sizeof work, "%s/w", scratch);
  snprintf(root, sizeof root, "%s/r", scratch);
  if (mkdir(up, 0755) || mkdir(work, 0755) || mkdir(root, 0755)) die("mkdir", scratch);
  snprintf(opts, sizeof opts, "lowerdir=%s,upperdir=%s,workdir=%s,volatile", lower, up, work);
  mnt("overlay", root, "overlay", MS_NODEV, opts);
  snprintf(p, sizeof p, "%s/proc", root);
  mnt("proc", p, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
  dev(root);
  snprintf(p, sizeof p, "%s/sys", root);
  mnt("sysfs", p, "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, NULL);
  // pivot_root(".", "."): the old root ends up on top of the new one; detach it.
  if (chdir(root) != 0) die("chdir", root);
  if (syscall(SYS_pivot_root, ".", ".") != 0) die("pivot_root", root);
  if (umount2(".", MNT_DETACH) != 0) die("umount2", "old root");
  if (chdir("/") != 0) die("chdir", "/");
  masks();
  if (sethostname("floor", 5) != 0) die("sethostname", "floor");
  lo_up();
  drop_caps();
  load_seccomp();
  execv(argv[0], argv);
  die("execv", argv[0]);
  return 127;
}

int main(int argc, char** argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: floor LOWER SCRATCH CMD [ARGS...]\n");
    return 2;
  }
  // clone with no stack behaves as fork: the child runs on a copy of ours.
  pid_t pid = (pid_t)syscall(SYS_clone, CLONE_NEWUTS | CLONE_NEWPID | CLONE_NEWNS |
                                            CLONE_NEWIPC | CLONE_NEWNET | SIGCHLD,
                             NULL, NULL, NULL, 0);
  if (pid < 0) die("clone", "5 namespaces");
  if (pid == 0) _exit(child(argv[1], argv[2], argv + 3));
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) die("waitpid", "child");
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
