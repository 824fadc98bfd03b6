/* checked: checked mode you can trust.
 *   - a set-user-ID program ignores RMAP_CHECK* (secure execution);
 *   - report lines cannot be forged by what they quote (object paths);
 *   - RMAP_CHECK_FORMAT=json gives one parseable object per report, of
 *     every kind;
 *   - the ownership check and the call it guards are one step (threads
 *     racing to unmap one mapping: exactly one wins);
 *   - nothing at exit can fail (a process at vm.max_map_count exits with
 *     its own status);
 *   - a page past the end of a file is reported when touched, and mapping
 *     past the end (as LMDB does) is not;
 *   - a record partly replaced behind librmap's back is refused;
 *   - a log that cannot be opened is said, once.
 *
 * Checked-mode scenarios re-execute this program (--scenario NAME) with the
 * environment set, and read its stdout and stderr.
 *
 * Usage: checked [TEST]     checked --scenario NAME (used by the tests)
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static char *map_anon(size_t len, int prot)
{
    char *p = rmap_map(NULL, len, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == RMAP_FAILED) die("rmap_map");
    return p;
}

/* A path beside this program (the helpers the Makefile builds with it). */
static const char *beside_me(const char *name)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s", self_program());
    char *slash = strrchr(path, '/');
    snprintf(slash + 1, sizeof path - (size_t)(slash + 1 - path), "%s", name);
    return path;
}

/* ---- scenarios, run in a fresh process ---- */

static int scenario(const char *name)
{
    if (strcmp(name, "touch-past-eof") == 0) {
        /* Two pages of a 100-byte file; the second page has no file behind it. */
        int fd = temp_file(100);
        char *p = rmap_map(NULL, 2 * PG, PROT_READ, MAP_SHARED, fd, 0); /* LINE: map past eof */
        printf("%p\n", (void *)p);
        touch(p + PG + 10);
        printf("still alive\n");
    } else if (strcmp(name, "no-space") == 0) {
        /* A 1 MiB tmpfs of its own (a private mount namespace), filled up;
         * a write into a hole of a sparse file mapped there cannot be
         * given a page: SIGBUS. Prints the address written, then dies. */
        char dir[] = "/tmp/rmap-full-XXXXXX";
        if (!mkdtemp(dir)) die("mkdtemp");
        if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
            mount("tmpfs", dir, "tmpfs", 0, "size=1m") != 0) {
            rmdir(dir);
            return 3; /* cannot: the test says why */
        }
        char path[64];
        snprintf(path, sizeof path, "%s/sparse", dir);
        int fd = open(path, O_RDWR | O_CREAT, 0600);
        snprintf(path, sizeof path, "%s/filler", dir);
        int filler = open(path, O_WRONLY | O_CREAT, 0600);
        static char block[65536];
        if (fd < 0 || filler < 0 || ftruncate(fd, 4 * (off_t)PG) != 0) die("files");
        while (write(filler, block, sizeof block) > 0) {}
        char *p = rmap_map(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == RMAP_FAILED) die("rmap_map");
        printf("%p %s\n", (void *)(p + 2 * PG + 123), dir); /* the test removes the folder */
        p[2 * PG + 123] = 'x'; /* no page for the hole: SIGBUS */
        printf("still alive\n");
    } else if (strcmp(name, "reserve-past-eof") == 0) {
        /* As LMDB does: a large map over a small file, only the file's pages read. */
        int fd = temp_file(PG);
        char *p = rmap_map(NULL, 64 * PG, PROT_READ, MAP_SHARED, fd, 0);
        touch(p);
        printf("%p read %c\n", (void *)p, p[0]);
        rmap_unmap(p, 64 * PG);
    } else if (strcmp(name, "leak") == 0) {
        printf("%p\n", (void *)map_anon(PG, PROT_READ));
    } else if (strcmp(name, "double-unmap") == 0) {
        char *p = map_anon(PG, PROT_READ);
        rmap_unmap(p, PG);
        int rc = rmap_unmap(p, PG);
        printf("%p %d\n", (void *)p, rc);
    } else if (strcmp(name, "unowned") == 0) {
        /* A remap that could move memory the C library mapped. */
        rmap_remap(mmap(NULL, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), PG, 2 * PG, MREMAP_MAYMOVE);
    } else if (strcmp(name, "write-exec") == 0) {
        rmap_unmap(map_anon(PG, PROT_READ | PROT_WRITE | PROT_EXEC), PG);
    } else if (strcmp(name, "stale") == 0 || strcmp(name, "stale-partly-replaced") == 0) {
        /* Two pages unmapped behind librmap's back; the second taken again
         * by an anonymous mapping with the same protection. The record's
         * first page is not mapped at all. */
        char *p = map_anon(2 * PG, PROT_READ);
        munmap(p, 2 * PG);
        char *q = mmap(p + PG, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
        if (q != p + PG) die("mmap at the freed address");
        int rc = rmap_unmap(p + PG, PG);
        int e = errno;
        touch(q); /* still mapped: the refusal left it alone */
        printf("%p %d %s\n", (void *)p, rc, rc ? strerrorname_np(e) : "-");
    } else if (strcmp(name, "beyond-eof-at-map") == 0) {
        int fd = temp_file(100);
        rmap_unmap(rmap_map(NULL, 2 * PG, PROT_READ, MAP_SHARED, fd, 0), 2 * PG);
    } else if (strcmp(name, "fault-handler") == 0) {
        /* The first copy installs the handler; SIG_DFL set with the system
         * call itself, behind librmap; the mask call sends this thread back
         * to its checkpoint, whose next copy notices. */
        char *p = map_anon(PG, PROT_READ);
        char byte;
        rmap_read(&byte, p, 1);
        struct {
            void *handler;
            unsigned long flags;
            void *restorer;
            unsigned long mask;
        } dfl = {0};
        syscall(SYS_rt_sigaction, SIGBUS, &dfl, NULL, 8);
        sigset_t none;
        sigemptyset(&none);
        pthread_sigmask(SIG_BLOCK, &none, NULL);
        rmap_read(&byte, p, 1);
        rmap_unmap(p, PG);
    } else if (strcmp(name, "plugin-leak") == 0) {
        /* The plugin (from the path in RMAP_TEST_PLUGIN) maps and never unmaps. */
        void *plugin = dlopen(getenv("RMAP_TEST_PLUGIN"), RTLD_NOW | RTLD_LOCAL);
        if (!plugin) die(dlerror());
        void *found = dlsym(plugin, "checked_plugin_leak");
        void *(*leak)(void);
        if (!found) die("dlsym");
        memcpy(&leak, &found, sizeof leak);
        printf("%p\n", leak());
    } else if (strcmp(name, "map-count-limit") == 0) {
        /* Maps single pages, alternating protections (so the kernel cannot
         * merge them), until the kernel refuses: the process is at
         * vm.max_map_count, and every page is a leak at exit. */
        long maps = 0;
        for (;; maps++) {
            void *p = rmap_map(NULL, PG, maps % 2 ? PROT_READ : PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (p == RMAP_FAILED) break;
        }
        printf("%ld mappings, then %s\n", maps, strerrorname_np(errno));
        return 0;
    } else {
        return 2;
    }
    return 0;
}

/* Runs this program's scenario NAME in a new process with RMAP_CHECK=1 and
 * the environment as it is (the tests set the other variables). */
static run_t run_scenario(const char *name)
{
    const char *args[] = {"--scenario", name, NULL};
    return run_self(args, "RMAP_CHECK", "1");
}

static int count_lines(const char *text, const char *prefix)
{
    int n = 0;
    size_t len = strlen(prefix);
    for (const char *line = text; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL)
        n += strncmp(line, prefix, len) == 0;
    return n;
}

/* The line of this file that holds `tag` (in a "LINE: tag" comment). */
static int line_of(const char *tag)
{
    FILE *f = fopen(__FILE__, "r");
    char want[64], line[512];
    snprintf(want, sizeof want, "LINE: %s */", tag);
    for (int n = 1; f && fgets(line, sizeof line, f); n++)
        if (strstr(line, want)) return fclose(f), n;
    if (f) fclose(f);
    return -1;
}

/* ---- a page past the end of a file ---- */

/* A write into a hole of a file on a full file system is reported as that,
 * not as a touch past the end of the file, with the byte's offset. */
static int no_space_write_is_reported_as_such(void)
{
    if (geteuid() != 0) skip_test("mounting a small tmpfs needs root");
    run_t r = run_scenario("no-space");
    if (WIFEXITED(r.status) && WEXITSTATUS(r.status) == 3) skip_test("this machine refused a private tmpfs mount");
    void *p = NULL;
    char dir[64] = "";
    sscanf(r.out, "%p %63s", &p, dir);
    if (strncmp(dir, "/tmp/rmap-full-", 15) == 0) rmdir(dir);
    printf("     %s", r.err);
    char want[256];
    snprintf(want, sizeof want, "rmap: no-space: %p written, file offset %zu of the mapping rmap_map(", p,
             2 * PG + 123);
    int ok = check(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGBUS, "the program still dies of SIGBUS");
    ok &= check(strncmp(r.err, want, strlen(want)) == 0 && count_lines(r.err, "rmap: no-space: ") == 1 &&
                    strstr(r.err, ": the file system has no space left to fill this hole of the file (SIGBUS;"),
                "one no-space line first, naming the byte's file offset");
    ok &= check(count_lines(r.err, "rmap: ") == 2 && count_lines(r.err, "rmap: leak: ") == 1,
                "then, as the fault kills it, the process's leak: its mapping");
    return ok ? 0 : 1;
}

static int touching_past_eof_is_reported_before_sigbus(void)
{
    run_t r = run_scenario("touch-past-eof");
    void *p = NULL;
    sscanf(r.out, "%p", &p);
    printf("     %s", r.err);
    char want[256];
    snprintf(want, sizeof want, "rmap: beyond-eof: %p touched, file offset %zu of the mapping rmap_map(%p, %zu) created at ",
             (void *)((char *)p + PG + 10), PG + 10, p, 2 * PG);
    int ok = check(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGBUS, "the program still dies of SIGBUS");
    ok &= check(strstr(r.out, "still alive") == NULL, "nothing after the touch ran");
    ok &= check(strncmp(r.err, want, strlen(want)) == 0 && count_lines(r.err, "rmap: beyond-eof: ") == 1,
                "one beyond-eof line first, naming the faulting address, the byte's file offset and the mapping");
    char leak[256];
    snprintf(leak, sizeof leak, "\nrmap: leak: %zu bytes at %p still mapped at exit, created at ", 2 * PG, p);
    ok &= check(count_lines(r.err, "rmap: ") == 2 && strstr(r.err, leak) != NULL,
                "then, as the fault kills it, the process's leak: that mapping (as valgrind lists a killed process's)");
    ok &= check(strstr(r.err, ": the file is 100 bytes long (SIGBUS; the program's own action follows)\n") != NULL,
                "it gives the file's size");
    /* The creation site: the rmap_map line of the scenario. */
    const char *site = strstr(r.err, "created at ");
    char where[512] = "";
    if (site) sscanf(site + 11, "%511[^:]", where);
    const char *source = source_line_of(where);
    printf("     created at %s, which is %s\n", where, source);
    char map_line[32];
    snprintf(map_line, sizeof map_line, "checked.c:%d", line_of("map past eof"));
    ok &= check(strcmp(source, map_line) == 0, "the creation site resolves to the rmap_map line (addr2line)");
    return ok ? 0 : 1;
}

static int mapping_past_eof_is_silent_until_touched(void)
{
    run_t r = run_scenario("reserve-past-eof");
    printf("     stdout: %s", r.out);
    int ok = check(exited_ok(&r) && strstr(r.out, " read a") && r.err[0] == 0,
                   "64 pages over a 1-page file, its page read: exit 0, no report (LMDB's way)");
    setenv("RMAP_CHECK_BEYOND_EOF", "map", 1);
    r = run_scenario("beyond-eof-at-map");
    unsetenv("RMAP_CHECK_BEYOND_EOF");
    printf("     with RMAP_CHECK_BEYOND_EOF=map: %s", r.err);
    ok &= check(exited_ok(&r) && count_lines(r.err, "rmap: beyond-eof: rmap_map(") == 1 &&
                    strstr(r.err, "maps offset 0 of a 100-byte file: touching file offsets from 4096 on raises SIGBUS"),
                "RMAP_CHECK_BEYOND_EOF=map reports the mapping when it is made");
    return ok ? 0 : 1;
}

/* ---- stale records ---- */

static int a_record_replaced_in_part_is_refused(void)
{
    run_t r = run_scenario("stale-partly-replaced");
    void *p = NULL;
    int rc = 0;
    char name[32] = "";
    sscanf(r.out, "%p %d %31s", &p, &rc, name);
    printf("     %s", r.err);
    return check(exited_ok(&r) && rc == -1 && strcmp(name, "EINVAL") == 0 &&
                     count_lines(r.err, "rmap: unmap-unowned: ") == 1 && strstr(r.err, "replaced behind librmap's back"),
                 "unmapping the replaced second page is refused (EINVAL, stale), the foreign page left mapped")
               ? 0
               : 1;
}

/* ---- reports cannot be forged ---- */

static int an_object_path_cannot_forge_a_report(void)
{
    /* A copy of the plugin under a name that holds a newline and a whole
     * forged report, escape sequences and bytes that are not UTF-8. */
    char dir[] = "/tmp/rmap-forge-XXXXXX";
    if (!mkdtemp(dir)) die("mkdtemp");
    char path[1024];
    snprintf(path, sizeof path,
             "%s/evil\nrmap: double-unmap: munmap(0xdead, 1) at sh+0x1: already unmapped at sh+0x2; refused "
             "with EINVAL\n\x1b[2K\xff.so",
             dir);
    char command[8192];
    snprintf(command, sizeof command, "cp '%s' \"$RMAP_TEST_PLUGIN_PATH\"", beside_me("checked_plugin.so"));
    setenv("RMAP_TEST_PLUGIN_PATH", path, 1);
    if (system(command) != 0) die("copy the plugin");
    setenv("RMAP_TEST_PLUGIN", path, 1);
    run_t r = run_scenario("plugin-leak");
    unlink(path);
    rmdir(dir);
    printf("     stderr: %s", r.err);
    int ok = check(exited_ok(&r) && count_lines(r.err, "rmap: ") == 1, "one report line, not two");
    ok &= check(count_lines(r.err, "rmap: leak: ") == 1 && strchr(r.err, '\n') == r.err + strlen(r.err) - 1,
                "it is the leak, and it holds no line break but its last");
    ok &= check(strstr(r.err, "/evil\\nrmap: double-unmap: munmap(0xdead, 1)") && strstr(r.err, "\\u{1b}[2K\\xff.so+0x"),
                "the newline, the escape character and the invalid byte are shown escaped");
    return ok ? 0 : 1;
}

/* ---- JSON ---- */

/* Validates the JSON lines in `text` with Python's json module: each line
 * one object with kind, pid, message, and the fields of its kind. Returns
 * the kinds seen ("kind kind ..."), or "" when a line fails. */
static const char *json_kinds(const char *text)
{
    static char kinds[1024];
    kinds[0] = 0;
    char input[] = "/tmp/rmap-json-XXXXXX";
    int fd = mkstemp(input);
    if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) die("write the JSON lines");
    close(fd);
    char command[2048];
    snprintf(command, sizeof command,
             "python3 -c 'import json, sys\n"
             "fields = {\"leak\": [\"address\", \"length\", \"created_by\"],\n"
             "  \"double-unmap\": [\"call\", \"address\", \"length\", \"caller\", \"unmapped_by\"],\n"
             "  \"remap-unowned\": [\"call\", \"address\", \"length\", \"caller\", \"stale\"],\n"
             "  \"unmap-unowned\": [\"call\", \"address\", \"length\", \"caller\", \"stale\"],\n"
             "  \"write-exec\": [\"call\", \"address\", \"length\", \"caller\"],\n"
             "  \"beyond-eof\": [\"call\", \"address\", \"length\"], \"fault-handler\": [],\n"
             "  \"summary\": [\"calls\", \"reports\"]}\n"
             "for line in open(sys.argv[1]):\n"
             "    o = json.loads(line)\n"
             "    assert isinstance(o[\"pid\"], int) and o[\"message\"].startswith(\"rmap: \" + o[\"kind\"] + \": \"), line\n"
             "    for f in fields[o[\"kind\"]]: assert f in o, (f, line)\n"
             "    for f in (\"caller\", \"created_by\", \"unmapped_by\"):\n"
             "        if o.get(f): assert o[f][\"object\"].startswith(\"/\") and o[f][\"offset\"].startswith(\"0x\"), line\n"
             "    print(o[\"kind\"], end=\" \")' %s",
             input);
    FILE *p = popen(command, "r");
    size_t got = p ? fread(kinds, 1, sizeof kinds - 1, p) : 0;
    kinds[got] = 0;
    int status = p ? pclose(p) : -1;
    unlink(input);
    if (status != 0) kinds[0] = 0;
    return kinds;
}

static int json_reports_of_every_kind_parse(void)
{
    setenv("RMAP_CHECK_FORMAT", "json", 1);
    setenv("RMAP_CHECK_SUMMARY", "yes", 1);
    const char *names[] = {"leak", "double-unmap", "unowned", "write-exec", "stale", "beyond-eof-at-map",
                           "touch-past-eof", "fault-handler"};
    static char all[16384];
    all[0] = 0;
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        if (strcmp(names[i], "beyond-eof-at-map") == 0) setenv("RMAP_CHECK_BEYOND_EOF", "map", 1);
        run_t r = run_scenario(names[i]);
        unsetenv("RMAP_CHECK_BEYOND_EOF");
        strncat(all, r.err, sizeof all - strlen(all) - 1);
    }
    unsetenv("RMAP_CHECK_FORMAT");
    unsetenv("RMAP_CHECK_SUMMARY");
    const char *kinds = json_kinds(all);
    printf("     kinds parsed: %s\n", kinds);
    const char *want[] = {"leak ", "double-unmap ", "remap-unowned ", "write-exec ", "unmap-unowned ",
                          "beyond-eof ", "fault-handler ", "summary "};
    int ok = check(kinds[0] != 0, "every line is one JSON object with its kind's fields");
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) ok &= check(strstr(kinds, want[i]) != NULL, want[i]);
    int lines = count_lines(all, "{\"kind\":"), all_lines = 0;
    for (const char *c = all; *c; c++) all_lines += *c == '\n';
    printf("     %d lines, %d of them JSON objects\n", all_lines, lines);
    ok &= check(lines == all_lines && lines >= 15, "nothing but JSON lines");
    return ok ? 0 : 1;
}

/* A program whose path (folders and file name) is ~4 KiB of control bytes
 * and bytes that are not UTF-8: its JSON report lines still parse with
 * Python's json.loads, every string closed. */
static int json_lines_parse_whatever_the_program_path(void)
{
    char base[] = "/tmp/rmap-json-path-XXXXXX";
    if (!mkdtemp(base)) die("mkdtemp");
    char library[4200];
    snprintf(library, sizeof library, "%s", self_program());
    strcpy(strrchr(library, '/') + 1, "../release");
    int out[2];
    if (pipe(out) != 0) die("pipe");
    pid_t pid = fork();
    if (pid == 0) {
        /* Folders of 200 such bytes, the path growing to ~3,800 bytes. */
        char name[201];
        for (int i = 0; i < 200; i++) name[i] = (char)(i % 3 == 0 ? 0x01 + i % 30 : i % 3 == 1 ? 0x80 + i % 64 : 0xff);
        name[200] = 0;
        if (chdir(base) != 0) _exit(3);
        for (int depth = 0; depth < 18; depth++)
            if (mkdir(name, 0700) != 0 || chdir(name) != 0) _exit(3);
        name[0] = 'p'; /* the program's own name: 200 bytes too */
        int from = open(self_program(), O_RDONLY), to = open(name, O_WRONLY | O_CREAT, 0700);
        char block[65536];
        ssize_t n;
        while (from >= 0 && to >= 0 && (n = read(from, block, sizeof block)) > 0)
            if (write(to, block, (size_t)n) != n) _exit(3);
        close(to);
        char program[210] = "./";
        strcat(program, name);
        dup2(out[1], 2);
        setenv("LD_LIBRARY_PATH", library, 1);
        setenv("RMAP_CHECK", "1", 1);
        setenv("RMAP_CHECK_FORMAT", "json", 1);
        setenv("RMAP_CHECK_SUMMARY", "yes", 1);
        execl(program, program, "--scenario", "double-unmap", (char *)NULL);
        _exit(4);
    }
    close(out[1]);
    static char err[65536];
    size_t got = 0;
    ssize_t n;
    while (got < sizeof err - 1 && (n = read(out[0], err + got, sizeof err - 1 - got)) > 0) got += (size_t)n;
    err[got] = 0;
    close(out[0]);
    int status;
    waitpid(pid, &status, 0);
    char command[128];
    snprintf(command, sizeof command, "rm -rf '%s'", base);
    if (system(command) != 0) printf("     could not remove %s\n", base);
    const char *kinds = json_kinds(err);
    int longest = 0, length = 0;
    for (const char *c = err; *c; c++) length = *c == '\n' ? 0 : length + 1, longest = length > longest ? length : longest;
    printf("     %zu bytes of reports, the longest line %d bytes; kinds parsed: %s\n", got, longest, kinds);
    return check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the program ran from its path") &&
                   check(strstr(kinds, "double-unmap ") && strstr(kinds, "summary ") && longest > 4096,
                         "every line (the double unmap quoting the path twice, over 4 KiB) one JSON object that json.loads takes")
               ? 0
               : 1;
}

/* ---- one lock hold from the check to the call ---- */

enum { RACERS = 4, ROUNDS = 5000 };
static pthread_barrier_t start_line, finish_line;
static char *_Atomic target;
static atomic_int winners;

static void *racer(void *arg)
{
    (void)arg;
    for (int round = 0; round < ROUNDS; round++) {
        pthread_barrier_wait(&start_line);
        if (rmap_unmap(atomic_load(&target), PG) == 0) atomic_fetch_add(&winners, 1);
        pthread_barrier_wait(&finish_line);
    }
    return NULL;
}

static int racing_double_unmaps_never_both_succeed(void)
{
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 2); /* the refusals' reports */
    rmap_set_check(RMAP_CHECK_REPORT);
    pthread_barrier_init(&start_line, NULL, RACERS + 1);
    pthread_barrier_init(&finish_line, NULL, RACERS + 1);
    pthread_t th[RACERS];
    for (int i = 0; i < RACERS; i++) pthread_create(&th[i], NULL, racer, NULL);
    int rounds_with_one = 0, rounds_with_more = 0;
    for (int round = 0; round < ROUNDS; round++) {
        atomic_store(&target, map_anon(PG, PROT_READ));
        atomic_store(&winners, 0);
        pthread_barrier_wait(&start_line);
        pthread_barrier_wait(&finish_line);
        int n = atomic_load(&winners);
        rounds_with_one += n == 1;
        rounds_with_more += n > 1;
    }
    for (int i = 0; i < RACERS; i++) pthread_join(th[i], NULL);
    printf("     %d rounds of %d threads unmapping one page at once: %d with one winner, %d with more\n", ROUNDS,
           RACERS, rounds_with_one, rounds_with_more);
    return check(rounds_with_one == ROUNDS, "every round exactly one rmap_unmap succeeds") ? 0 : 1;
}

/* ---- nothing at exit can fail ---- */

static int at_the_map_count_limit_the_exit_status_is_the_programs(void)
{
    if (under_valgrind()) skip_test("valgrind keeps its own limit on mappings");
    if (under_asan()) skip_test("ASan's runtime maps memory of its own at exit (its leak check), which the limit refuses");
    setenv("RMAP_CHECK_LOG", "/dev/null", 1); /* ~65,000 leak lines */
    run_t r = run_scenario("map-count-limit");
    unsetenv("RMAP_CHECK_LOG");
    printf("     stdout: %s     stderr: %s\n", r.out, r.err);
    long maps = 0;
    sscanf(r.out, "%ld", &maps);
    return check(exited_ok(&r) && maps > 1000 && strstr(r.out, "ENOMEM") && r.err[0] == 0,
                 "mapped until ENOMEM, every mapping leaked: exit status 0, nothing on stderr")
               ? 0
               : 1;
}

/* ---- the log ---- */

static int a_log_that_cannot_be_opened_is_said_once(void)
{
    setenv("RMAP_CHECK_LOG", "/nonexistent-dir/rmap.log", 1);
    run_t r = run_scenario("double-unmap");
    unsetenv("RMAP_CHECK_LOG");
    printf("     %s", r.err);
    return check(exited_ok(&r) &&
                     strncmp(r.err, "rmap: RMAP_CHECK_LOG=\"/nonexistent-dir/rmap.log\" cannot be opened (No such file "
                                    "or directory); reports go to stderr\n",
                             110) == 0 &&
                     count_lines(r.err, "rmap: RMAP_CHECK_LOG=") == 1 && count_lines(r.err, "rmap: double-unmap: ") == 1,
                 "one warning line, then the report on stderr")
               ? 0
               : 1;
}

/* ---- secure execution ---- */

/* An unprivileged user for the test: made with useradd when missing. */
static int test_user(uid_t *uid, gid_t *gid)
{
    const char *name = "rmap-unprivileged";
    struct passwd *pw = getpwnam(name);
    if (!pw) {
        char command[256];
        snprintf(command, sizeof command,
                 "useradd --system --no-create-home --shell /usr/sbin/nologin %s >/dev/null 2>&1", name);
        if (system(command) != 0) pw = getpwnam("nobody");
        else pw = getpwnam(name);
    }
    if (!pw || pw->pw_uid == 0) return 0;
    *uid = pw->pw_uid;
    *gid = pw->pw_gid;
    return 1;
}

/* A folder where a set-user-ID program runs (its file system not nosuid),
 * which the test user may enter. */
static int suid_folder(char *dir, size_t size)
{
    const char *candidates[] = {"/tmp", "/var/tmp", "/root", "/"};
    for (size_t i = 0; i < sizeof candidates / sizeof *candidates; i++) {
        struct statvfs vfs;
        if (statvfs(candidates[i], &vfs) != 0 || (vfs.f_flag & ST_NOSUID)) continue;
        snprintf(dir, size, "%s/rmap-secure-XXXXXX", strcmp(candidates[i], "/") ? candidates[i] : "");
        if (mkdtemp(dir) && chmod(dir, 0755) == 0) return 1;
    }
    return 0;
}

/* Runs PROGRAM as uid/gid with only `env`; returns its wait status, its
 * stderr in err. */
static int run_as(uid_t uid, gid_t gid, const char *program, const char *arg, char *const env[], char *err, size_t size)
{
    int pipefd[2];
    if (pipe(pipefd)) die("pipe");
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pipefd[1], 2);
        close(pipefd[0]);
        if (setgroups(0, NULL) || setresgid(gid, gid, gid) || setresuid(uid, uid, uid)) _exit(121);
        char *const argv[] = {(char *)program, (char *)arg, NULL};
        execve(program, argv, env);
        _exit(122);
    }
    close(pipefd[1]);
    size_t got = 0;
    ssize_t n;
    while (got < size - 1 && (n = read(pipefd[0], err + got, size - 1 - got)) > 0) got += (size_t)n;
    err[got] = 0;
    close(pipefd[0]);
    int status;
    waitpid(pid, &status, 0);
    return status;
}

static int set_user_id_programs_ignore_the_environment(void)
{
    if (geteuid() != 0) skip_test("needs root, to make a set-user-ID-root program and an unprivileged user");
    if (under_valgrind()) skip_test("valgrind cannot run a set-user-ID program as its owner");
    uid_t uid;
    gid_t gid;
    if (!test_user(&uid, &gid)) skip_test("no unprivileged user (useradd failed, and there is no 'nobody')");
    char dir[256];
    if (!suid_folder(dir, sizeof dir)) skip_test("no file system here allows set-user-ID programs");
    char helper[300], root_only[300], created[300];
    snprintf(helper, sizeof helper, "%s/secure_helper", dir);
    snprintf(root_only, sizeof root_only, "%s/root-only.log", dir);
    snprintf(created, sizeof created, "%s/created.log", dir);
    char command[1024];
    snprintf(command, sizeof command, "cp '%s' '%s'", beside_me("secure_helper"), helper);
    if (system(command) != 0 || chown(helper, 0, 0) || chmod(helper, 04755)) die("make the set-user-ID helper");
    int fd = open(root_only, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write(fd, "root's\n", 7) != 7) die("root-only file");
    close(fd);

    char log_new[400], log_root[400];
    snprintf(log_new, sizeof log_new, "RMAP_CHECK_LOG=%s", created);
    snprintf(log_root, sizeof log_root, "RMAP_CHECK_LOG=%s", root_only);
    char *const env_new[] = {"RMAP_CHECK=1", log_new, "RMAP_CHECK_ERROR_EXITCODE=0", "RMAP_CHECK_SUMMARY=yes", NULL};
    char *const env_root[] = {"RMAP_CHECK=1", log_root, "RMAP_CHECK_ERROR_EXITCODE=0", NULL};
    char err[4096];
    int status = run_as(uid, gid, helper, "", env_new, err, sizeof err);
    printf("     as uid %d: exit %d, stderr '%s'\n", (int)uid, WIFEXITED(status) ? WEXITSTATUS(status) : -1, err);
    int ok = check(WIFEXITED(status) && WEXITSTATUS(status) == 7, "the helper's own exit status (7), not 0");
    ok &= check(access(created, F_OK) != 0, "RMAP_CHECK_LOG names a file that is not created");
    ok &= check(err[0] == 0, "no report: RMAP_CHECK=1 is ignored");
    status = run_as(uid, gid, helper, "", env_root, err, sizeof err);
    struct stat st;
    ok &= check(WIFEXITED(status) && WEXITSTATUS(status) == 7 && stat(root_only, &st) == 0 && st.st_size == 7,
                "an existing root-only file gets nothing appended");
    /* The program's own choice still holds there. */
    status = run_as(uid, gid, helper, "set-check", env_new, err, sizeof err);
    printf("     with rmap_set_check from the program: %s", err);
    ok &= check(WIFEXITED(status) && WEXITSTATUS(status) == 7 && count_lines(err, "rmap: double-unmap: ") == 1 &&
                    access(created, F_OK) != 0,
                "rmap_set_check(RMAP_CHECK_REPORT) reports, on stderr, and the status stays 7");
    unlink(helper);
    unlink(root_only);
    unlink(created);
    rmdir(dir);
    return ok ? 0 : 1;
}

static const test_t TESTS[] = {
    K(touching_past_eof_is_reported_before_sigbus),
    K(no_space_write_is_reported_as_such),
    K(mapping_past_eof_is_silent_until_touched),
    K(a_record_replaced_in_part_is_refused),
    K(an_object_path_cannot_forge_a_report),
    K(json_reports_of_every_kind_parse),
    K(json_lines_parse_whatever_the_program_path),
    K(racing_double_unmaps_never_both_succeed),
    K(at_the_map_count_limit_the_exit_status_is_the_programs),
    K(a_log_that_cannot_be_opened_is_said_once),
    K(set_user_id_programs_ignore_the_environment),
};

int main(int argc, char **argv)
{
    harness_init();
    if (argc == 3 && strcmp(argv[1], "--scenario") == 0) return scenario(argv[2]);
    return run_tests("checked", TESTS, sizeof TESTS / sizeof *TESTS, argc > 1 ? argv[1] : NULL);
}
