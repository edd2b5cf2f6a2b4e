// recvmmsg and sendmmsg, which the C library declares only under _GNU_SOURCE: the struct is
// declared here with the kernel's layout and the functions bound to the library's symbols.
#include <sys/socket.h>
#include <time.h>

struct dnsstore_mmsghdr {
    struct msghdr msg_hdr;
    unsigned int msg_len;
};

extern int dnsstore_recvmmsg(int fd, struct dnsstore_mmsghdr *messages, unsigned int count, int flags, struct timespec *timeout)
    __asm__("recvmmsg");
extern int dnsstore_sendmmsg(int fd, struct dnsstore_mmsghdr *messages, unsigned int count, int flags)
    __asm__("sendmmsg");
