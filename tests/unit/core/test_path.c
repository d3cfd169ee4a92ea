/*
 * test_path.c - path_dir: the part before the last slash, the root for a
 * file in it, "." for a bare name, and a buffer too small refused.
 */
#include <string.h>

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
    return unit_done("test_path");
}
