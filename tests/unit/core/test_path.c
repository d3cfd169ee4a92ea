/*
 * test_path.c - path_dir: the part before the last slash, the root for a
 * file in it, "." for a bare name, and a buffer too small refused;
 * path_writable: yes for a file that could be made, no for one in a
 * missing directory, and nothing made either way.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/path.h"
#include "tests/unit/unit.h"

static void dir_is(const char *path, const char *want)
{
    char d[64];
    CHECK(path_dir(path, d, sizeof d) == 0 && strcmp(d, want) == 0, "%s: got \"%s\", want \"%s\"",
          path, d, want);
}

int main(void)
{
    char d[4];

    dir_is("/var/lib/magicd/magicd.key", "/var/lib/magicd");
    dir_is("run/users.db", "run");
    dir_is("/magicd.key", "/");
    dir_is("magicd.key", ".");
    dir_is("a//b", "a/");
    CHECK(path_dir("/var/lib/x", d, sizeof d) == -1 && d[0] == '\0');
    CHECK(path_dir("abc/x", d, sizeof d) == 0 && strcmp(d, "abc") == 0);

    /* path_writable: asks, makes nothing. */
    char tmpl[] = "/tmp/test_path.XXXXXX", p[200], why[300];
    char *dir = mkdtemp(tmpl);
    struct stat st;
    CHECK(dir != NULL);
    snprintf(p, sizeof p, "%s/new.log", dir);
    CHECK(path_writable(p, why, sizeof why) == 0, "%s", why);
    CHECK(stat(p, &st) < 0, "path_writable made the file");
    snprintf(p, sizeof p, "%s/no/such/new.log", dir);
    CHECK(path_writable(p, why, sizeof why) < 0 && strstr(why, "cannot create it there"), "%s",
          why);
    snprintf(p, sizeof p, "%s/there.log", dir);
    int fd = open(p, O_WRONLY | O_CREAT, 0600);
    CHECK(fd >= 0);
    close(fd);
    CHECK(path_writable(p, why, sizeof why) == 0, "%s", why);
    unlink(p);
    rmdir(dir);
    return unit_done("test_path");
}
