/*
 * test_upgrade.c - the socket hand-over of the binary upgrade: the
 * MAGICD_INHERIT format, and a real round trip: a listening socket passed
 * to a freshly exec'd process (this test binary again, in child mode) is
 * adopted, while a non-listening fd and a closed fd are refused.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/sd_notify.h"
#include "master/upgrade.h"
#include "tests/unit/unit.h"

/* Child mode: adopt the sockets and report through the exit status:
 * 10 + count, after checking each is listening and CLOEXEC again. */
static int child(void)
{
    int fds[8];
    int n = upgrade_inherited(fds, 8, NULL);

    if (n < 0)
        return 2;
    if (getenv(UPGRADE_ENV))
        return 3;
    /* Under systemd the new master gets the notify socket back. */
    const char *want = getenv("EXPECT_NOTIFY"), *got = getenv("NOTIFY_SOCKET");
    if (!want || !got || strcmp(want, got) != 0)
        return 6;
    for (int i = 0; i < n; i++) {
        struct sockaddr_in a;
        socklen_t len = sizeof(a);
        if (!(fcntl(fds[i], F_GETFD) & FD_CLOEXEC))
            return 4;
        if (getsockname(fds[i], (struct sockaddr *)&a, &len) < 0)
            return 5;
    }
    return 10 + n;
}

int main(int argc, char **argv)
{
    int fds[8], lfd, dfd, st = 0;
    char env[128];
    pid_t pid;

    if (argc > 1 && strcmp(argv[1], "child") == 0)
        return child();

    CHECK(upgrade_format_env((int[]){3, 7, 12}, 3, env, sizeof(env)) == 0 &&
          strcmp(env, "3;7;12;") == 0);
    CHECK(upgrade_format_env((int[]){3, 7}, 2, env, 4) == -1);
    CHECK(upgrade_parse_env("3;7;12;", fds, 8) == 3 && fds[0] == 3 && fds[1] == 7 && fds[2] == 12);
    CHECK(upgrade_parse_env("5", fds, 8) == 1 && fds[0] == 5);
    CHECK(upgrade_parse_env("", fds, 8) == 0);
    CHECK(upgrade_parse_env("3;x;", fds, 8) == -1);
    CHECK(upgrade_parse_env("3;;", fds, 8) == -1);
    CHECK(upgrade_parse_env("99999999999;", fds, 8) == -1);
    CHECK(upgrade_parse_env("1;2;3;", fds, 2) == -1);

    unsetenv(UPGRADE_ENV);
    CHECK(upgrade_inherited(fds, 8, NULL) == 0);
    setenv(UPGRADE_ENV, "junk", 1);
    CHECK(upgrade_inherited(fds, 8, NULL) == -1);
    CHECK(getenv(UPGRADE_ENV) == NULL);

    CHECK(upgrade_init() == 0 && upgrade_self_path() != NULL);

    /* A real listener (CLOEXEC, as the master creates it), a non-listening
     * socket, and an fd number that is closed. */
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CHECK(lfd >= 0 && bind(lfd, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(lfd, 8) == 0);
    dfd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    CHECK(dfd >= 0);
    /* As if under systemd: the master read NOTIFY_SOCKET and removed it. */
    setenv("NOTIFY_SOCKET", "@magicd-test-upgrade", 1);
    setenv("EXPECT_NOTIFY", "@magicd-test-upgrade", 1);
    CHECK(sd_notify_init() == 1 && getenv("NOTIFY_SOCKET") == NULL);
    int pass[3] = {lfd, dfd, 900};
    char *cargv[] = {argv[0], "child", NULL};
    pid = upgrade_spawn(cargv, pass, 3);
    CHECK(pid > 0);
    CHECK(waitpid(pid, &st, 0) == pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 11);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 11)
        fprintf(stderr, "child status %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    /* The parent's fds keep CLOEXEC: only the child cleared it. */
    CHECK(fcntl(lfd, F_GETFD) & FD_CLOEXEC);
    close(lfd);
    close(dfd);

    if (unit_failures)
        return 1;
    printf("ok\n");
    return 0;
}
