/*
 * handoff.c - connection hand-off over a Unix datagram socketpair (see
 * handoff.h).
 *
 * A connected socketpair is used on purpose: Linux applies the
 * net.unix.max_dgram_qlen queue limit (10 on many systems) only to
 * unconnected datagram sockets, so a pair is bounded by the sender's
 * SO_SNDBUF alone, which the master raises so that thousands of idle
 * connections can be in flight during one reload.
 */
#include "core/handoff.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define HANDOFF_MAGIC 0x6d67686f /* "mgho" */
#define CHANNEL_SNDBUF (8 * 1024 * 1024)

typedef struct {
    uint32_t magic;
    uint32_t len; /* buffered bytes that follow */
} hdr_t;

int handoff_channel(int fds[2])
{
    if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, fds) < 0)
        return -1;
    int sz = CHANNEL_SNDBUF;
    /* FORCE works for root (the master usually is); otherwise the plain
     * option, capped at net.core.wmem_max. */
    if (setsockopt(fds[1], SOL_SOCKET, SO_SNDBUFFORCE, &sz, sizeof sz) < 0)
        setsockopt(fds[1], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
    if (setsockopt(fds[0], SOL_SOCKET, SO_RCVBUFFORCE, &sz, sizeof sz) < 0)
        setsockopt(fds[0], SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
    return 0;
}

int handoff_valid(int fd)
{
    int type = 0, dom = 0;
    socklen_t l = sizeof type;
    if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) < 0)
        return 0;
    l = sizeof dom;
    if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &l) < 0)
        return 0;
    return type == SOCK_DGRAM && dom == AF_UNIX;
}

int handoff_send(int chan, int fd, const void *bytes, size_t n)
{
    if (n > HANDOFF_MAX_BYTES) {
        errno = EMSGSIZE;
        return -1;
    }
    hdr_t h = {.magic = HANDOFF_MAGIC, .len = (uint32_t)n};
    struct iovec iov[2] = {{.iov_base = &h, .iov_len = sizeof h},
                           {.iov_base = (void *)bytes, .iov_len = n}};
    union {
        struct cmsghdr c;
        char buf[CMSG_SPACE(sizeof(int))];
    } u;
    memset(&u, 0, sizeof u);
    struct msghdr msg = {.msg_iov = iov,
                         .msg_iovlen = n ? 2 : 1,
                         .msg_control = u.buf,
                         .msg_controllen = sizeof u.buf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof fd);
    for (;;) {
        ssize_t r = sendmsg(chan, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (r >= 0)
            return 0;
        if (errno != EINTR)
            return -1;
    }
}

int handoff_recv(int chan, int *fd, void *buf, size_t cap, size_t *n)
{
    hdr_t h;
    struct iovec iov[2] = {{.iov_base = &h, .iov_len = sizeof h},
                           {.iov_base = buf, .iov_len = cap}};
    union {
        struct cmsghdr c;
        char buf[CMSG_SPACE(sizeof(int))];
    } u;
    struct msghdr msg = {
        .msg_iov = iov, .msg_iovlen = 2, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
    ssize_t r;
    do
        r = recvmsg(chan, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    while (r < 0 && errno == EINTR);
    if (r < 0)
        return -1;
    int got = -1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS &&
            c->cmsg_len >= CMSG_LEN(sizeof(int)))
            memcpy(&got, CMSG_DATA(c), sizeof got);
    if (got < 0 || (size_t)r < sizeof h || h.magic != HANDOFF_MAGIC ||
        (size_t)r - sizeof h != h.len || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
        if (got >= 0)
            close(got); /* not ours or cut short: drop it rather than guess */
        errno = EPROTO;
        return -1;
    }
    int fl = fcntl(got, F_GETFL);
    if (fl >= 0 && !(fl & O_NONBLOCK))
        fcntl(got, F_SETFL, fl | O_NONBLOCK);
    *fd = got;
    *n = h.len;
    return 0;
}
