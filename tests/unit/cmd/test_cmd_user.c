/*
 * test_cmd_user.c - `magicd user ...` and `magicd keygen` as functions: exit
 * codes, their effect on a real SQLite file, JSON export/import round trip,
 * all-or-nothing import, key file creation and refusal to overwrite.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "cmd/cmd_user.h"
#include "app/store.h"
#include "app/store_session.h"
#include "tests/unit/unit.h"

static char db[400];

static int run(const char *a0, const char *a1, const char *a2)
{
    char *argv[4] = {(char *)a0, (char *)a1, (char *)a2, NULL};
    int argc = a2 ? 3 : a1 ? 2 : a0 ? 1 : 0;
    fflush(stdout);
    return cmd_user(db, argc, argv);
}

static int exists(const char *email)
{
    char err[512];
    store_t *s = store_open(db, 1, err, sizeof(err));
    int r = s ? store_user_exists(s, email) : -1;
    store_close(s);
    return r;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        abort();
    fputs(text, f);
    fclose(f);
}

int main(void)
{
    char dir[256], path[400], key[400], cmd[300];
    struct stat st;

    snprintf(dir, sizeof(dir), "%s/test_cmd_user.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(db, sizeof(db), "%s/users.db", dir);

    /* Usage errors. */
    CHECK(run(NULL, NULL, NULL) == 2);
    CHECK(run("frobnicate", NULL, NULL) == 2);
    CHECK(run("add", NULL, NULL) == 2);
    CHECK(run("add", "a@b.co", "--bogus") == 2);
    CHECK(run("remove", NULL, NULL) == 2);
    CHECK(run("export", "a", "b") == 2);
    /* list/export before any user: a clear error, no file created. */
    CHECK(run("list", NULL, NULL) == 1);
    CHECK(access(db, F_OK) != 0);

    /* add / list / remove */
    CHECK(run("add", "Demo@Example.com", NULL) == 0);
    CHECK(exists("demo@example.com") == 1);
    CHECK(run("add", "demo@example.com", NULL) == 0); /* already there: fine */
    CHECK(run("add", "not-an-email", NULL) == 1);
    CHECK(run("add", "--admin", "boss@example.com") == 2); /* replaced by --group */
    CHECK(run("add", "--group", "boss@example.com") == 2); /* no group name */
    {
        char *argv[] = {"add", "boss@example.com", "--group", "admins", "-g", "ops", NULL};
        CHECK(cmd_user(db, 6, argv) == 0);
        char *bad[] = {"add", "boss@example.com", "--group", "no,commas", NULL};
        CHECK(cmd_user(db, 4, bad) == 2);
        char *dis[] = {"disable", "boss@example.com", NULL};
        CHECK(cmd_user(db, 2, dis) == 0);
        char *en[] = {"enable", "boss@example.com", NULL};
        CHECK(cmd_user(db, 2, en) == 0);
        char *none[] = {"disable", "nobody@example.com", NULL};
        CHECK(cmd_user(db, 2, none) == 1);
    }
    CHECK(run("user", "add", "third@example.com") == 0); /* leading "user" skipped */
    CHECK(run("list", NULL, NULL) == 0);
    CHECK(run("remove", "third@example.com", NULL) == 0);
    CHECK(run("remove", "third@example.com", NULL) == 1);
    CHECK(exists("third@example.com") == 0);

    /* export to a file: JSON as documented, mode 0600 */
    snprintf(path, sizeof(path), "%s/users.json", dir);
    CHECK(run("export", path, NULL) == 0);
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
    {
        json_error_t je;
        json_t *a = json_load_file(path, 0, &je);
        CHECK(json_is_array(a) && json_array_size(a) == 2);
        json_t *o = json_array_get(a, 0);
        CHECK(strcmp(json_string_value(json_object_get(o, "email")), "boss@example.com") == 0);
        json_t *g = json_object_get(o, "groups");
        CHECK(json_array_size(g) == 2 &&
              strcmp(json_string_value(json_array_get(g, 0)), "admins") == 0 &&
              strcmp(json_string_value(json_array_get(g, 1)), "ops") == 0);
        CHECK(json_is_false(json_object_get(o, "disabled")));
        CHECK(json_integer_value(json_object_get(json_array_get(a, 1), "created_at")) > 1700000000);
        CHECK(json_array_size(json_object_get(json_array_get(a, 1), "groups")) == 0);
        json_decref(a);
    }
    CHECK(run("export", NULL, NULL) == 0); /* stdout */

    /* import: round trip into a fresh store keeps created_at and admin */
    {
        char db2[400];
        snprintf(db2, sizeof(db2), "%s", db);
        snprintf(db, sizeof(db), "%s/users2.db", dir);
        CHECK(run("import", path, NULL) == 0);
        CHECK(exists("boss@example.com") == 1 && exists("demo@example.com") == 1);
        char err[512];
        store_t *s = store_open(db, 1, err, sizeof(err));
        store_user_info_t ui;
        CHECK(s && store_user_info(s, "boss@example.com", &ui) == 1 &&
              strcmp(ui.groups, "admins,ops") == 0 && !ui.disabled);
        store_close(s);
        CHECK(run("import", path, NULL) == 0); /* again: all already present */
        snprintf(db, sizeof(db), "%s", db2);
    }
    /* strings and partial objects are accepted */
    write_file(path, "[\"  Plain@Example.com \", {\"email\": \"obj@example.com\"}]");
    CHECK(run("import", path, NULL) == 0);
    CHECK(exists("plain@example.com") == 1 && exists("obj@example.com") == 1);
    /* all or nothing */
    write_file(path, "[\"good1@example.com\", \"bad address\", \"good2@example.com\"]");
    CHECK(run("import", path, NULL) == 1);
    CHECK(exists("good1@example.com") == 0 && exists("good2@example.com") == 0);
    write_file(path, "[{\"email\": \"x@example.com\", \"is_admin\": \"yes\"}]");
    CHECK(run("import", path, NULL) == 1);
    write_file(path, "[{\"email\": \"x@example.com\", \"groups\": [\"a b\"]}]");
    CHECK(run("import", path, NULL) == 1);
    /* the old form: is_admin true is the group "admins" */
    write_file(path, "[{\"email\": \"old@example.com\", \"is_admin\": true, \"disabled\": true}]");
    CHECK(run("import", path, NULL) == 0);
    {
        char err[512];
        store_user_info_t ui;
        store_t *s = store_open(db, 1, err, sizeof(err));
        CHECK(s && store_user_info(s, "old@example.com", &ui) == 1 &&
              strcmp(ui.groups, "admins") == 0 && ui.disabled);
        store_close(s);
    }
    write_file(path, "{\"email\": \"x@example.com\"}");
    CHECK(run("import", path, NULL) == 1);
    write_file(path, "[\"x@example.com\",");
    CHECK(run("import", path, NULL) == 1);
    CHECK(exists("x@example.com") == 0);
    CHECK(run("import", "/nonexistent/users.json", NULL) == 1);

    /* keygen */
    snprintf(key, sizeof(key), "%s/magicd.key", dir);
    fflush(stdout);
    CHECK(cmd_keygen(key) == 0);
    CHECK(stat(key, &st) == 0 && (st.st_mode & 0777) == 0600);
    {
        char before[128], after[128];
        int fd = open(key, O_RDONLY);
        ssize_t n1 = read(fd, before, sizeof(before));
        close(fd);
        CHECK(cmd_keygen(key) == 1);
        fd = open(key, O_RDONLY);
        ssize_t n2 = read(fd, after, sizeof(after));
        close(fd);
        CHECK(n1 == 58 && n1 == n2 && memcmp(before, after, (size_t)n1) == 0);
    }
    CHECK(cmd_keygen("") == 2);
    CHECK(cmd_keygen(NULL) == 2);

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    if (unit_failures) {
        fprintf(stderr, "test_cmd_user: %d failure(s)\n", unit_failures);
        return 1;
    }
    printf("test_cmd_user: ok\n");
    return 0;
}
