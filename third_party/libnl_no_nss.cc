// libnl_no_nss — keeps glibc's NSS resolvers out of static binaries that link libnl.
//
// libnl-3's printing helpers (nl_addr_info, nl_ip_proto2str, nl_str2ip_proto) call
// getaddrinfo(3), getprotobyname(3) and getprotobynumber(3). nslab never calls those
// helpers, but linking libnl-3.a statically (11_container is a static PIE) pulls in
// glibc's implementations, and ld warns that they would need the shared NSS
// libraries at run time. `-Wl,--wrap=SYM` (ld(1)) sends libnl's references to the
// __wrap_SYM functions below instead, so glibc's objects are never linked: no NSS, no
// warning. They fail the way the real functions fail when nothing resolves.
#include <netdb.h>

extern "C" {

int __wrap_getaddrinfo(const char*, const char*, const struct addrinfo*, struct addrinfo**) {
  return EAI_FAIL;
}

struct protoent* __wrap_getprotobyname(const char*) { return nullptr; }

struct protoent* __wrap_getprotobynumber(int) { return nullptr; }

}  // extern "C"
