/*
 * test_sd_notify.c - the sd_notify client against a real AF_UNIX datagram
 * socket, path and abstract, as systemd would provide it: the messages and
 * their format, the environment being cleared for children, the watchdog
 * variables, and the no-op behaviour outside systemd.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/sd_notify.h"
#include "tests/unit/unit.h"

static int recv_msg(int fd, char *buf, size_t sz)
{
    struct timeval tv = {.tv_sec = 2};
    ssize_t n;

    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    n = recv(fd, buf, sz - 1, 0);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    return (int)n;
}

static int bind_dgram(const char *path, int abstract)
{
    struct sockaddr_un a;
    socklen_t len;
    int fd = socket(AF_UNIX, SOCK_DGRAM, 0);

    memset(&a, 0, sizeof(a));
    a.sun_family = AF_UNIX;
    if (abstract) {
        strcpy(a.sun_path + 1, path);
        len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(path));
    } else {
        strcpy(a.sun_path, path);
        len = sizeof(a);
    }
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, len) < 0) {
        perror("bind");
        return -1;
    }
    return fd;
}

int main(void)
{
    char path[108], env[120], buf[1024];
    int fd;

    /* Not under systemd: everything is a quiet no-op. */
    unsetenv("NOTIFY_SOCKET");
    CHECK(sd_notify_init() == 0);
    CHECK(sd_notify_ready() == 0);
    CHECK(sd_watchdog_usec() == 0);
    CHECK(sd_notify_socket_path() == NULL);

    /* A path socket. */
    snprintf(path, sizeof(path), "/tmp/magicd-sdn-%ld.sock", (long)getpid());
    unlink(path);
    fd = bind_dgram(path, 0);
    CHECK(fd >= 0);
    setenv("NOTIFY_SOCKET", path, 1);
    snprintf(env, sizeof(env), "%ld", (long)getpid());
    setenv("WATCHDOG_PID", env, 1);
    setenv("WATCHDOG_USEC", "3000000", 1);
    CHECK(sd_notify_init() == 1);
    CHECK(getenv("NOTIFY_SOCKET") == NULL);
    CHECK(getenv("WATCHDOG_USEC") == NULL);
    CHECK(getenv("WATCHDOG_PID") == NULL);
    CHECK(sd_watchdog_usec() == 3000000);
    CHECK(sd_notify_socket_path() && strcmp(sd_notify_socket_path(), path) == 0);

    CHECK(sd_notify_ready() == 1);
    CHECK(recv_msg(fd, buf, sizeof(buf)) > 0 && strcmp(buf, "READY=1") == 0);
    CHECK(sd_notify_reloading() == 1);
    CHECK(recv_msg(fd, buf, sizeof(buf)) > 0 &&
          strncmp(buf, "RELOADING=1\nMONOTONIC_USEC=", 27) == 0);
    {
        unsigned long long us = strtoull(buf + 27, NULL, 10);
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        unsigned long long now = (unsigned long long)ts.tv_sec * 1000000ull + ts.tv_nsec / 1000;
        CHECK(us > 0 && us <= now && now - us < 5000000ull);
    }
    CHECK(sd_notify_status(4, 17, 1234.56) == 1);
    CHECK(recv_msg(fd, buf, sizeof(buf)) > 0 &&
          strcmp(buf, "STATUS=4 workers, 17 connections, 1234.6 requests/s") == 0);
    CHECK(sd_notify_watchdog() == 1);
    CHECK(recv_msg(fd, buf, sizeof(buf)) > 0 && strcmp(buf, "WATCHDOG=1") == 0);
    CHECK(sd_notify_stopping() == 1);
    CHECK(recv_msg(fd, buf, sizeof(buf)) > 0 && strcmp(buf, "STOPPING=1") == 0);
    CHECK(sd_notify_mainpid(4242) == 1);
    CHECK(recv_msg(fd, buf, sizeof(buf)) > 0 && strcmp(buf, "MAINPID=4242") == 0);
    close(fd);
    unlink(path);

    /* Watchdog meant for another process is ignored. */
    setenv("WATCHDOG_PID", "1", 1);
    setenv("WATCHDOG_USEC", "3000000", 1);
    CHECK(sd_notify_init() == 0);
    CHECK(sd_watchdog_usec() == 0);

    /* An abstract socket ('@name'). */
    snprintf(path, sizeof(path), "magicd-sdn-abstract-%ld", (long)getpid());
    fd = bind_dgram(path, 1);
    CHECK(fd >= 0);
    snprintf(env, sizeof(env), "@%s", path);
    setenv("NOTIFY_SOCKET", env, 1);
    CHECK(sd_notify_init() == 1);
    CHECK(sd_notifyf("STATUS=%s", "hello") == 1);
    CHECK(recv_msg(fd, buf, sizeof(buf)) > 0 && strcmp(buf, "STATUS=hello") == 0);
    close(fd);

    /* Garbage in NOTIFY_SOCKET is reported, and sends stay no-ops. */
    setenv("NOTIFY_SOCKET", "relative/path", 1);
    CHECK(sd_notify_init() == -1);
    CHECK(sd_notify_ready() == 0);

    if (unit_failures)
        return 1;
    printf("ok\n");
    return 0;
}
