/* nslab-trampoline — the last program a container's process runs before its command.
 *
 * Teaches: CVE-2019-5736. When the kernel execs a script whose first line is
 * "#!/proc/self/exe", it opens that interpreter path *in the exec'ing process*, whose
 * /proc/self/exe is still the runtime's own binary — on the host. The script then
 * runs the host's 11_container inside the container, as a dumpable process, and any
 * process there can take an fd on it through /proc/PID/exe and write to it once it
 * is idle. So the process that execs the container's command must not be running the
 * host's binary. The engine execs this tiny program instead, from a sealed memfd
 * (memfd_create(2), fcntl(2) F_ADD_SEALS): its /proc/PID/exe is that memfd, which
 * nobody can write, and a script that names /proc/self/exe as its interpreter gets
 * *this* program, which refuses (argv[0] is not its marker) instead of re-exec'ing.
 *
 * No libc (a few KiB, so copying it into a memfd at every start costs microseconds,
 * where a copy of the 8 MB CLI costs milliseconds): raw system calls, x86_64 and
 * aarch64. Read: execve(2) ("Interpreter scripts"), memfd_create(2), runc's
 * libcontainer/nsenter/cloned_binary.c and crun's src/libcrun/cloned_binary.c.
 *
 * argv: nslab-trampoline REPORT_FD PATH ARGV0 ARGS...   (common/trampoline.h)
 *   REPORT_FD  the engine's error pipe (-1: none); marked close-on-exec here, so it
 *              closes when PATH is running and carries "CODE message" if it is not.
 */

#if defined(__x86_64__)
#define NR_write 1
#define NR_fcntl 72
#define NR_execve 59
#define NR_exit_group 231
static long sys3(long n, long a, long b, long c) {
  long ret;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(n), "D"(a), "S"(b), "d"(c)
                   : "rcx", "r11", "memory");
  return ret;
}
__asm__(
    ".text\n"
    ".global _start\n"
    "_start:\n"
    "  xor %rbp, %rbp\n"
    "  mov %rsp, %rdi\n"
    "  and $-16, %rsp\n"
    "  call trampoline_main\n"
    "  hlt\n");
#elif defined(__aarch64__)
#define NR_write 64
#define NR_fcntl 25
#define NR_execve 221
#define NR_exit_group 94
static long sys3(long n, long a, long b, long c) {
  register long x8 __asm__("x8") = n;
  register long x0 __asm__("x0") = a;
  register long x1 __asm__("x1") = b;
  register long x2 __asm__("x2") = c;
  __asm__ volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
  return x0;
}
__asm__(
    ".text\n"
    ".global _start\n"
    "_start:\n"
    "  mov x29, #0\n"
    "  mov x0, sp\n"
    "  bl trampoline_main\n"
    "  brk #0\n");
#else
#error "nslab-trampoline: add the system call convention of this architecture"
#endif

#define F_SETFD_ 2
#define FD_CLOEXEC_ 1
#define ENOENT_ 2
#define ENOEXEC_ 8
#define EACCES_ 13
#define ENOTDIR_ 20

/* The marker the engine puts in argv[0]. A kernel running us as a script's
 * interpreter puts the interpreter's path there ("/proc/self/exe") instead. */
static const char kMarker[] = "nslab-trampoline";

static unsigned long Len(const char* s) {
  unsigned long n = 0;
  while (s[n]) ++n;
  return n;
}

static int Same(const char* a, const char* b) {
  while (*a && *a == *b) ++a, ++b;
  return *a == *b;
}

static void Put(int fd, const char* s) {
  if (fd >= 0) sys3(NR_write, fd, (long)s, (long)Len(s));
}

__attribute__((noreturn)) static void Exit(int code) {
  for (;;) sys3(NR_exit_group, code, 0, 0);
}

/* strerror(3) for the errnos execve(2) gives for a command (no libc here). */
static const char* ErrorText(long err) {
  switch (err) {
    case 1: return "Operation not permitted";
    case ENOENT_: return "No such file or directory";
    case 7: return "Argument list too long";
    case ENOEXEC_: return "Exec format error";
    case 12: return "Cannot allocate memory";
    case EACCES_: return "Permission denied";
    case ENOTDIR_: return "Not a directory";
    case 21: return "Is a directory";
    case 26: return "Text file busy";
    case 40: return "Too many levels of symbolic links";
    default: return "execve failed";
  }
}

static int ParseFd(const char* s) {
  int v = 0;
  if (*s == '-') return -1;
  for (; *s >= '0' && *s <= '9'; ++s) v = v * 10 + (*s - '0');
  return v;
}

__attribute__((used, noreturn)) void trampoline_main(long* sp) {
  long argc = sp[0];
  char** argv = (char**)(sp + 1);
  char** envp = argv + argc + 1;
  if (argc < 4 || !Same(argv[0], kMarker)) {
    /* "#!/proc/self/exe" in the container, or someone running the memfd by hand. */
    Put(2,
        "nslab-trampoline: refusing to run as a script's interpreter (#!/proc/self/exe: "
        "CVE-2019-5736)\n");
    Exit(126);
  }
  int report = ParseFd(argv[1]);
  if (report >= 0) sys3(NR_fcntl, report, F_SETFD_, FD_CLOEXEC_);
  const char* path = argv[2];
  long err = -sys3(NR_execve, (long)path, (long)(argv + 3), (long)envp);
  if (err == ENOEXEC_) {
    /* No #! line and no ELF: a shell script, as execvp(3) treats it. argv[2] and
     * argv[3] become "/bin/sh" and the script's path: /bin/sh PATH ARGS... */
    argv[2] = (char*)"/bin/sh";
    argv[3] = (char*)path;
    long e2 = -sys3(NR_execve, (long)argv[2], (long)(argv + 2), (long)envp);
    if (e2 != ENOENT_) err = e2;
  }
  int code = (err == ENOENT_ || err == ENOTDIR_) ? 127 : 126;
  /* The engine's format: "CODE message" on the error pipe (process::Child::Go). */
  int out = report >= 0 ? report : 2;
  Put(out, report >= 0 ? (code == 127 ? "127 " : "126 ") : "nslab-trampoline: ");
  Put(out, "execve \"");
  Put(out, path);
  Put(out, "\": ");
  Put(out, ErrorText(err));
  if (report < 0) Put(out, "\n");
  Exit(code);
}
