/*
 * test_listen.c - what listen_open says when a bind fails: a port taken
 * names the directive and says another program holds it; a port below
 * 1024 without the privilege to bind it says what grants it (a bare
 * "Permission denied" named neither). The second runs in a child that
 * drops to nobody, when this test runs as root and the kernel still
 * keeps ports below 1024 for privileged processes.
 */
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "master/listen.h"
#include "tests/unit/unit.h"

static int unprivileged_start(void)
{
    int v = 1024;
    FILE *f = fopen("/proc/sys/net/ipv4/ip_unprivileged_port_start", "r");
    if (f) {
        if (fscanf(f, "%d", &v) != 1)
            v = 1024;
        fclose(f);
    }
    return v;
}

int main(void)
{
    char err[512];
    conf_addr_t a = {.host = "127.0.0.1", .port = "0"};
    int fd = listen_open(&a, "listen", 16, err, sizeof err);
    CHECK(fd >= 0, "port 0: %s", err);
    struct sockaddr_in sin;
    socklen_t sl = sizeof sin;
    getsockname(fd, (struct sockaddr *)&sin, &sl);
    snprintf(a.port, sizeof a.port, "%d", ntohs(sin.sin_port));
    CHECK(listen_open(&a, "profiler_listen", 16, err, sizeof err) < 0 &&
              strstr(err, "(profiler_listen)") && strstr(err, "another program"),
          "taken: %s", err);
    close(fd);

    struct passwd *pw = getpwnam("nobody");
    if (geteuid() != 0 || !pw || unprivileged_start() <= 1) {
        printf("skip: the privileged-port case needs root, a user nobody and ports below 1024 "
               "kept for privileged processes\n");
        return unit_done("test_listen");
    }
    pid_t pid = fork();
    if (pid == 0) {
        if (setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0)
            _exit(3);
        conf_addr_t p = {.host = "127.0.0.1", .port = "1"};
        if (listen_open(&p, "listen", 16, err, sizeof err) >= 0)
            _exit(4);
        fprintf(stderr, "%s\n", err);
        _exit(strstr(err, "CAP_NET_BIND_SERVICE") && strstr(err, "(listen)") ? 0 : 5);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "port 1 as nobody: status %d", st);
    return unit_done("test_listen");
}
