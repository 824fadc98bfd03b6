/* registry: what librmap records, what checked mode reports, and that both
 * survive threads and fork.
 *
 * Each test runs in its own child. Tests named <fn>_<errno>_<what> are tags
 * of ERRORS entries in include/rmap.h. Checked-mode scenarios re-execute this
 * program with RMAP_CHECK set and compare its stderr line by line.
 *
 * Usage: registry [TEST]     registry --scenario NAME (used by the tests)
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

static char *map_anon(size_t len, int prot)
{
    char *p = rmap_map(NULL, len, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == RMAP_FAILED) die("rmap_map");
    return p;
}

/* The call CALL-unowned names, made on one page at `at`; returns its result. */
static int call_on(const char *scenario_name, char *at)
{
    unsigned char vec[1];
    if (strncmp(scenario_name, "unmap-", 6) == 0) return rmap_unmap(at, PG);
    if (strncmp(scenario_name, "sync-", 5) == 0) return rmap_sync(at, PG, MS_SYNC);
    if (strncmp(scenario_name, "protect-", 8) == 0) return rmap_protect(at, PG, PROT_READ);
    if (strncmp(scenario_name, "advise-", 7) == 0) return rmap_advise(at, PG, MADV_NORMAL);
    if (strncmp(scenario_name, "lock-", 5) == 0) return rmap_lock(at, PG);
    if (strncmp(scenario_name, "unlock-", 7) == 0) return rmap_unlock(at, PG);
    if (strncmp(scenario_name, "remap-", 6) == 0)
        return rmap_remap(at, PG, 2 * PG, MREMAP_MAYMOVE) == RMAP_FAILED ? -1 : 0;
    if (strncmp(scenario_name, "resident-", 9) == 0) return rmap_resident(at, PG, vec);
    return 2;
}

/* Every call but unmap and remap, on memory librmap did not map (a hole,
 * the C library's mapping, the heap), and unmap and remap of a hole: made
 * through libc and then through librmap on the same memory, in checked
 * mode; prints each difference and "N alike". */
static int kernel_answers(void)
{
    char *foreign = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *heap = aligned_alloc(PG, 4 * PG);
    char *targets[] = {hole(1), foreign, heap + PG};
    const char *target_names[] = {"a hole", "the C library's mapping", "the heap"};
    unsigned char vec[1];
    int alike = 0, calls = 0;
    for (int t = 0; t < 3; t++) {
        char *at = targets[t];
        for (int c = 0; c < 8; c++) {
            if (c >= 6 && t > 0) continue; /* unmap and remap: of the hole only */
            if ((c == 3 || c == 4) && under_asan()) continue; /* ASan's mlock and munlock are stubs */
            int rc[2], e[2];
            for (int librmap = 0; librmap < 2; librmap++) {
                errno = 0;
                switch (c) {
                case 0: rc[librmap] = (librmap ? rmap_sync : msync)(at, PG, MS_ASYNC); break;
                case 1: rc[librmap] = (librmap ? rmap_protect : mprotect)(at, PG, PROT_READ | PROT_WRITE); break;
                case 2: rc[librmap] = (librmap ? rmap_advise : madvise)(at, PG, MADV_NORMAL); break;
                case 3: rc[librmap] = (librmap ? rmap_lock : mlock)(at, PG); break;
                case 4: rc[librmap] = (librmap ? rmap_unlock : munlock)(at, PG); break;
                case 5: rc[librmap] = (librmap ? rmap_resident : mincore)(at, PG, vec); break;
                case 6: rc[librmap] = (librmap ? rmap_unmap : munmap)(at, PG); break;
                default:
                    rc[librmap] = (librmap ? rmap_remap(at, PG, PG, 0) : mremap(at, PG, PG, 0)) == MAP_FAILED ? -1 : 0;
                    break;
                }
                e[librmap] = rc[librmap] ? errno : 0;
            }
            static const char *const names[] = {"sync", "protect", "advise", "lock", "unlock", "resident", "unmap", "remap"};
            calls++;
            if (rc[0] == rc[1] && e[0] == e[1])
                alike++;
            else
                printf("%s of %s: libc %d %s, librmap %d %s\n", names[c], target_names[t], rc[0],
                       e[0] ? strerrorname_np(e[0]) : "-", rc[1], e[1] ? strerrorname_np(e[1]) : "-");
        }
    }
    printf("%d of %d alike\n", alike, calls);
    free(heap);
    return 0;
}

/* ---- scenarios, run in a fresh process (see run_scenario) ---- */

static int scenario(const char *name)
{
    if (strcmp(name, "leak") == 0) {
        printf("%p\n", (void *)map_anon(PG, PROT_READ));
    } else if (strcmp(name, "beyond-eof") == 0) {
        int fd = temp_file(100);
        char *p = rmap_map(NULL, 2 * PG, PROT_READ, MAP_SHARED, fd, 0);
        printf("%p\n", (void *)p);
        rmap_unmap(p, 2 * PG);
    } else if (strcmp(name, "write-exec") == 0) {
        char *p = map_anon(PG, PROT_READ | PROT_WRITE | PROT_EXEC);
        printf("%p\n", (void *)p);
        rmap_unmap(p, PG);
    } else if (strcmp(name, "protect-write-exec") == 0) {
        char *p = map_anon(PG, PROT_READ | PROT_WRITE);
        int rc = rmap_protect(p, PG, PROT_READ | PROT_WRITE | PROT_EXEC);
        printf("%p %d\n", (void *)p, rc);
        rmap_unmap(p, PG);
    } else if (strcmp(name, "remap-beyond-eof") == 0) {
        int fd = temp_file(PG);
        char *p = rmap_map(NULL, PG, PROT_READ, MAP_SHARED, fd, 0);
        char *q = rmap_remap(p, PG, 3 * PG, MREMAP_MAYMOVE);
        printf("%p\n", (void *)q);
        rmap_unmap(q, 3 * PG);
    } else if (strcmp(name, "double-unmap") == 0) {
        char *p = map_anon(PG, PROT_READ);
        rmap_unmap(p, PG);
        int rc = rmap_unmap(p, PG);
        printf("%p %d %s\n", (void *)p, rc, rc ? strerrorname_np(errno) : "-");
    } else if (strcmp(name, "stale-unmap") == 0) {
        /* Unmapped behind librmap's back, then another mapping takes the address. */
        char *p = map_anon(PG, PROT_READ);
        munmap(p, PG);
        char *q = mmap(p, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
        int rc = rmap_unmap(p, PG);
        int e = errno;
        q[0] = 1; /* still mapped: the refusal left the foreign mapping alone */
        printf("%p %d %s\n", (void *)p, rc, rc ? strerrorname_np(e) : "-");
    } else if (strcmp(name, "stale-leak") == 0) {
        char *p = map_anon(PG, PROT_READ);
        munmap(p, PG);
        printf("%p\n", (void *)p);
    } else if (strlen(name) > 8 && strcmp(name + strlen(name) - 8, "-unowned") == 0) {
        /* Memory the C library mapped. */
        char *f = mmap(NULL, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        int rc = call_on(name, f);
        printf("%p %d %s\n", (void *)f, rc, rc ? strerrorname_np(errno) : "-");
    } else if (strlen(name) > 5 && strcmp(name + strlen(name) - 5, "-hole") == 0) {
        char *h = hole(1);
        int rc = call_on(name, h);
        printf("%p %d %s\n", (void *)h, rc, rc ? strerrorname_np(errno) : "-");
    } else if (strcmp(name, "kernel-answers") == 0) {
        return kernel_answers();
    } else {
        return 2;
    }
    return 0;
}

/* Runs this program's scenario NAME in a new process, RMAP_CHECK=check (or unset). */
static run_t run_scenario(const char *name, const char *check_env)
{
    const char *args[] = {"--scenario", name, NULL};
    return run_self(args, "RMAP_CHECK", check_env);
}

/* ---- the ERRORS entries ---- */

static int query_enoent_not_mapped(void)
{
    struct rmap_info info;
    return rmap_query(hole(1), &info) == -1 ? errno : 0;
}

static int query_einval_null_info(void)
{
    char *p = map_anon(PG, PROT_READ);
    return rmap_query(p, NULL) == -1 ? errno : 0;
}

static int stats_einval_null(void) { return rmap_stats(NULL) == -1 ? errno : 0; }
static int foreach_einval_null_fn(void) { return rmap_foreach(NULL, NULL) == -1 ? errno : 0; }
static int set_check_einval_mode(void) { return rmap_set_check(7) == -1 ? errno : 0; }

/* The expected checked-mode line for an unowned range, as the child saw it. */
static int unowned_case(const char *scenario_name, const char *call)
{
    run_t r = run_scenario(scenario_name, "1");
    void *addr = NULL;
    int rc = 0;
    char err_name[32] = "";
    if (!exited_ok(&r) || sscanf(r.out, "%p %d %31s", &addr, &rc, err_name) != 3) return -1;
    char want[512];
    snprintf(want, sizeof want,
             "rmap: %s-unowned: rmap_%s(%p, %zu): this range holds memory librmap did not map; refused with "
             "EINVAL\n",
             call, call, addr, PG);
    printf("     stderr: %s", r.err);
    char rest[512], where[256];
    if (!check(split_location(r.err, rest, sizeof rest, where, sizeof where) && strcmp(rest, want) == 0,
               "exactly the expected report line, with a location"))
        return -1;
    const char *source = source_line_of(where);
    printf("     %s is %s\n", where, source);
    if (!check(strncmp(source, "registry.c:", 11) == 0, "the location is the calling line in registry.c")) return -1;
    return rc == -1 && strcmp(err_name, "EINVAL") == 0 ? EINVAL : 0;
}

/* r.err without the " at WHERE" of its first line. */
static const char *unlocated(const run_t *r)
{
    static char rest[4096];
    char where[256];
    return split_location(r->err, rest, sizeof rest, where, sizeof where) ? rest : r->err;
}

static int unmap_einval_unowned_checked(void) { return unowned_case("unmap-unowned", "unmap"); }
static int remap_einval_unowned_checked(void) { return unowned_case("remap-unowned", "remap"); }

/* Checked mode refuses only what takes memory from whoever mapped it:
 * every other call on memory librmap did not map, and an unmap or remap
 * where nothing is mapped, returns what the kernel returns, unreported. */
static int other_calls_get_the_kernels_answer_in_checked_mode(void)
{
    run_t r = run_scenario("kernel-answers", "1");
    printf("     %s", r.out);
    if (r.err[0]) printf("     stderr: %s", r.err);
    int alike = 0, calls = -1;
    const char *line = strstr(r.out, " alike");
    if (line) {
        while (line > r.out && line[-1] != '\n') line--;
        sscanf(line, "%d of %d", &alike, &calls);
    }
    return check(exited_ok(&r) && alike == calls && calls == (under_asan() ? 14 : 20) && r.err[0] == 0,
                 "sync, protect, advise, lock, unlock, resident on a hole, the C library's mapping and the heap, "
                 "unmap and remap of a hole: libc's results, no report")
               ? 0
               : 1;
}

/* The lines of /proc/self/maps: the kernel's mappings. */
static int kernel_mapping_count(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    int n = 0, c;
    while (f && (c = fgetc(f)) != EOF) n += c == '\n';
    if (f) fclose(f);
    return n;
}

/* Recording a mapping cannot fail after the kernel made it: librmap makes
 * room in its registry first. Single pages, each in a 16 MiB block of its
 * own (so that the registry's tables grow fast), until they are large;
 * then the address space is limited to what is used plus 1 MiB: a page
 * still fits, the registry's next doubling does not. rmap_map must fail
 * with ENOMEM with nothing mapped (and a page mapped with libc right after
 * shows there was room for the mapping itself). */
static int map_fails_cleanly_when_the_registry_cannot_grow(void)
{
    if (under_valgrind() || under_asan()) skip_test("address-space limits are the runtime's under valgrind and ASan");
    char *base = (char *)((uintptr_t)1 << 44);
    size_t block = (size_t)16 << 20;
    int maps = 0, limited = 0, refused = 0, before = 0, after = 0, libc_room = 0;
    for (int i = 0; i < 20000 && !refused; i++) {
        if (i == 3900) {
            struct rlimit limit;
            FILE *status = fopen("/proc/self/status", "r");
            char line[256];
            long vm_kib = 0;
            while (status && fgets(line, sizeof line, status))
                if (sscanf(line, "VmSize: %ld kB", &vm_kib) == 1) break;
            if (status) fclose(status);
            limit.rlim_cur = limit.rlim_max = (rlim_t)(vm_kib + 1024) * 1024;
            if (vm_kib == 0 || setrlimit(RLIMIT_AS, &limit) != 0) die("RLIMIT_AS");
            limited = 1;
        }
        before = kernel_mapping_count();
        char *want = base + (size_t)i * block;
        char *p = rmap_map(want, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
        if (p == RMAP_FAILED && errno == ENOMEM && limited) {
            refused = 1;
            after = kernel_mapping_count();
            char *q = mmap(want, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
            libc_room = q == want;
        } else if (p != want) {
            die("rmap_map");
        } else {
            maps++;
        }
    }
    printf("     %d single-page mappings in 16 MiB blocks of their own, then the address space limited to 1 MiB "
           "more: rmap_map %s; kernel mappings %d before the refused call, %d after; libc's mmap of that page "
           "then %s\n",
           maps, refused ? "failed with ENOMEM" : "never failed", before, after, libc_room ? "succeeded" : "failed");
    return check(refused && before == after && libc_room,
                 "ENOMEM with nothing mapped, where the mapping itself had room")
               ? 0
               : 1;
}

/* ---- registry contents ---- */

static int query_reports_the_mapping(void)
{
    int fd = temp_file(3 * PG);
    struct stat st;
    fstat(fd, &st);
    char *p = rmap_map(NULL, PG + 1, PROT_READ, MAP_SHARED, fd, (off_t)PG);
    struct rmap_info info;
    if (p == RMAP_FAILED || rmap_query(p + PG + 100, &info) != 0) return 1;
    printf("     start %p length %zu prot %d flags %#x dev %llu ino %llu offset %lld\n", info.start, info.length,
           info.prot, info.flags, (unsigned long long)info.dev, (unsigned long long)info.ino, (long long)info.offset);
    return check(info.start == p && info.length == 2 * PG && info.prot == PROT_READ && info.flags == MAP_SHARED &&
                     info.dev == (uint64_t)st.st_dev && info.ino == (uint64_t)st.st_ino && info.offset == (off_t)PG,
                 "every field as mapped (length rounded to pages)")
               ? 0
               : 1;
}

static int partial_unmap_splits_and_trims(void)
{
    int fd = temp_file(4 * PG);
    char *p = rmap_map(NULL, 4 * PG, PROT_READ, MAP_SHARED, fd, 0);
    rmap_unmap(p + PG, PG);   /* split */
    rmap_unmap(p + 3 * PG, PG); /* trim the tail */
    struct rmap_info a, b, gone;
    int ok = rmap_query(p, &a) == 0 && rmap_query(p + 2 * PG, &b) == 0;
    ok = ok && check(a.start == p && a.length == PG && a.offset == 0, "head: one page at offset 0");
    ok = ok && check(b.start == p + 2 * PG && b.length == PG && b.offset == (off_t)(2 * PG), "middle piece: offset 2 pages");
    ok = ok && check(rmap_query(p + PG, &gone) == -1 && errno == ENOENT, "the hole is gone");
    ok = ok && check(rmap_query(p + 3 * PG, &gone) == -1 && errno == ENOENT, "the trimmed tail is gone");
    return ok ? 0 : 1;
}

/* Is [start, start+len) covered by /proc/self/maps lines with these permissions? */
static int kernel_has(char *start, size_t len, int prot)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f) return 0;
    uintptr_t at = (uintptr_t)start, end = at + len;
    char line[512];
    while (at < end && fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        char perms[5];
        if (sscanf(line, "%lx-%lx %4s", &lo, &hi, perms) != 3) continue;
        int p = (perms[0] == 'r' ? PROT_READ : 0) | (perms[1] == 'w' ? PROT_WRITE : 0);
        if (lo <= at && at < hi && p == prot) at = hi;
    }
    fclose(f);
    return at >= end;
}

static int collect(const struct rmap_info *info, void *ctx)
{
    struct rmap_info *list = ctx;
    size_t i = 0;
    while (list[i].length) i++;
    if (i < 7) list[i] = *info;
    return 0;
}

static int fixed_replaces_and_foreach_walks_in_order(void)
{
    char *p = map_anon(3 * PG, PROT_READ);
    if (rmap_map(p + PG, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != p + PG) return 1;
    struct rmap_info list[8];
    memset(list, 0, sizeof list);
    if (rmap_foreach(collect, list) != 0) return 1;
    int ok = check(list[0].start == p && list[0].length == PG && list[0].prot == PROT_READ, "first: old head");
    ok = ok && check(list[1].start == p + PG && list[1].prot == (PROT_READ | PROT_WRITE), "second: the MAP_FIXED page");
    ok = ok && check(list[2].start == p + 2 * PG && list[2].length == PG, "third: old tail");
    ok = ok && check(list[3].length == 0, "nothing else");
    return ok ? 0 : 1;
}

static int protect_middle_page_splits_in_three_and_merges_back(void)
{
    char *p = map_anon(3 * PG, PROT_READ | PROT_WRITE);
    if (rmap_protect(p + PG, PG, PROT_READ) != 0) return 1;
    struct rmap_info list[8];
    memset(list, 0, sizeof list);
    rmap_foreach(collect, list);
    int ok = check(list[0].start == p && list[0].length == PG && list[0].prot == (PROT_READ | PROT_WRITE) &&
                       list[1].start == p + PG && list[1].length == PG && list[1].prot == PROT_READ &&
                       list[2].start == p + 2 * PG && list[2].length == PG && list[2].offset == (off_t)(2 * PG) &&
                       list[3].length == 0,
                   "three records: rw-, r--, rw-");
    ok &= check(kernel_has(p, PG, PROT_READ | PROT_WRITE) && kernel_has(p + PG, PG, PROT_READ) &&
                    kernel_has(p + 2 * PG, PG, PROT_READ | PROT_WRITE),
                "the kernel's protections are the same");
    printf("     after protecting the middle page: %zu+%zu+%zu bytes, prot %d/%d/%d\n", list[0].length, list[1].length,
           list[2].length, list[0].prot, list[1].prot, list[2].prot);
    rmap_protect(p + PG, PG, PROT_READ | PROT_WRITE);
    memset(list, 0, sizeof list);
    rmap_foreach(collect, list);
    ok &= check(list[0].start == p && list[0].length == 3 * PG && list[1].length == 0, "one record again after undoing it");
    return ok ? 0 : 1;
}

static int remap_move_records_the_new_range_only(void)
{
    char *p = map_anon(PG, PROT_READ | PROT_WRITE);
    /* Occupy the page above (unless something already does), so growing must move. */
    char *blocker = rmap_map(p + PG, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    if (blocker == RMAP_FAILED && errno != EEXIST) return 1;
    char *q = rmap_remap(p, PG, 3 * PG, MREMAP_MAYMOVE);
    struct rmap_info info, gone;
    int ok = check(q != RMAP_FAILED && q != p, "the mapping had to move");
    ok = ok && check(rmap_query(q + 2 * PG, &info) == 0 && info.start == q && info.length == 3 * PG &&
                         info.prot == (PROT_READ | PROT_WRITE),
                     "rmap_query knows the new range, grown to 3 pages");
    ok = ok && check(rmap_query(p, &gone) == -1 && errno == ENOENT, "and not the old");
    char *r = rmap_remap(q, 3 * PG, PG, 0);
    ok = ok && check(r == q && rmap_query(q + PG, &gone) == -1 && rmap_query(q, &info) == 0 && info.length == PG,
                     "shrunk in place to one page");
    printf("     moved %p -> %p (3 pages), shrunk to 1\n", (void *)p, (void *)q);
    return ok ? 0 : 1;
}

static int remap_dontunmap_records_both_ranges(void)
{
    char *p = map_anon(PG, PROT_READ | PROT_WRITE), *t = hole(2);
    struct rmap_info info;
    char *q = rmap_remap(p, PG, PG, MREMAP_MAYMOVE | MREMAP_DONTUNMAP, t);
    if (q == RMAP_FAILED && errno == EINVAL)
        skip_test(under_valgrind() ? "valgrind does not support MREMAP_DONTUNMAP" : "this kernel lacks MREMAP_DONTUNMAP");
    int ok = check(q != RMAP_FAILED && rmap_query(q, &info) == 0 && info.start == q && rmap_query(p, &info) == 0 &&
                       info.start == p,
                   "MREMAP_DONTUNMAP: both the new and the old range are recorded");
    printf("     copied %p -> %p keeping the old\n", (void *)p, (void *)q);
    return ok ? 0 : 1;
}

static int remap_fixed_replaces_what_it_covers(void)
{
    char *p = map_anon(PG, PROT_READ);
    char *t = map_anon(3 * PG, PROT_READ | PROT_WRITE);
    char *q = rmap_remap(p, PG, PG, MREMAP_MAYMOVE | MREMAP_FIXED, t + PG);
    struct rmap_info list[8];
    memset(list, 0, sizeof list);
    rmap_foreach(collect, list);
    int ok = check(q == t + PG, "moved onto the middle page");
    ok &= check(list[0].start == t && list[0].length == PG && list[1].start == t + PG && list[1].prot == PROT_READ &&
                    list[2].start == t + 2 * PG && list[3].length == 0,
                "records: the target's head, the moved page, the target's tail");
    return ok ? 0 : 1;
}

static int lock_state_shows_in_flags(void)
{
    char *p = map_anon(2 * PG, PROT_READ | PROT_WRITE);
    struct rmap_info a, b;
    if (rmap_lock(p + PG + 10, 1) != 0) return 1;
    int ok = check(rmap_query(p, &a) == 0 && !(a.flags & MAP_LOCKED) && a.length == PG, "first page unlocked");
    ok &= check(rmap_query(p + PG, &b) == 0 && (b.flags & MAP_LOCKED) && b.length == PG, "second page locked");
    rmap_unlock(p, 2 * PG);
    ok &= check(rmap_query(p, &a) == 0 && !(a.flags & MAP_LOCKED) && a.length == 2 * PG, "one unlocked record again");
    char *l = rmap_map(NULL, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_LOCKED, -1, 0);
    ok &= check(rmap_query(l, &a) == 0 && (a.flags & MAP_LOCKED), "MAP_LOCKED mappings start locked");
    return ok ? 0 : 1;
}

static int dontfork_ranges_are_not_in_the_child(void)
{
    char *p = map_anon(PG, PROT_READ | PROT_WRITE), *q = map_anon(PG, PROT_READ);
    if (rmap_advise(p, PG, MADV_DONTFORK) != 0) return 1;
    pid_t pid = fork();
    if (pid == 0) {
        struct rmap_info info;
        _exit(rmap_query(p, &info) == -1 && errno == ENOENT && rmap_query(q, &info) == 0 ? 0 : 1);
    }
    int status;
    waitpid(pid, &status, 0);
    struct rmap_info info;
    return check(WIFEXITED(status) && WEXITSTATUS(status) == 0 && rmap_query(p, &info) == 0,
                 "the child has no record of the don't-fork range; the parent still has it")
               ? 0
               : 1;
}

static int file_identity_is_learnt_from_the_kernel(void)
{
    int fd = temp_file(2 * PG);
    struct stat st;
    fstat(fd, &st);
    char *p = rmap_map(NULL, 2 * PG, PROT_READ, MAP_PRIVATE, fd, 0);
    rmap_protect(p + PG, PG, PROT_NONE);
    struct rmap_info a, b;
    int ok = check(rmap_query(p + PG, &b) == 0 && b.dev == (uint64_t)st.st_dev && b.ino == (uint64_t)st.st_ino,
                   "the second piece knows its file");
    rmap_protect(p + PG, PG, PROT_READ);
    ok &= check(rmap_query(p, &a) == 0 && a.length == 2 * PG && a.ino == (uint64_t)st.st_ino,
                "merged with the first, the file still known");
    return ok ? 0 : 1;
}

static int stop_at_second(const struct rmap_info *info, void *ctx)
{
    (void)info;
    return ++*(int *)ctx == 2 ? 42 : 0;
}

static int foreach_stops_on_nonzero(void)
{
    map_anon(PG, PROT_READ);
    map_anon(PG, PROT_READ);
    map_anon(PG, PROT_READ);
    int seen = 0;
    int rc = rmap_foreach(stop_at_second, &seen);
    return check(rc == 42 && seen == 2, "returns fn's 42 after the second mapping") ? 0 : 1;
}

static int stats_count_live_and_calls(void)
{
    struct rmap_stats before, after;
    rmap_stats(&before);
    char *p = map_anon(2 * PG, PROT_READ);
    char *q = map_anon(PG, PROT_READ);
    rmap_sync(p, PG, MS_ASYNC);
    rmap_unmap(q, PG);
    rmap_map(NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0); /* EINVAL */
    rmap_stats(&after);
    printf("     live %zu mappings, %zu bytes; +%llu maps, +%llu unmaps, +%llu syncs, +%llu failures\n",
           after.live_mappings, after.live_bytes, (unsigned long long)(after.maps - before.maps),
           (unsigned long long)(after.unmaps - before.unmaps), (unsigned long long)(after.syncs - before.syncs),
           (unsigned long long)(after.failures - before.failures));
    return check(after.live_mappings == before.live_mappings + 1 && after.live_bytes == before.live_bytes + 2 * PG &&
                     after.maps - before.maps == 2 && after.unmaps - before.unmaps == 1 &&
                     after.syncs - before.syncs == 1 && after.failures - before.failures == 1,
                 "the counts match the calls made")
               ? 0
               : 1;
}

/* The newest mapping of the common map call is recorded only when the
 * registry is next used (an unmap of it first never touches the registry):
 * every way of asking, changing the mode or forking must see it recorded,
 * and an unmap of anything else must leave it intact. */
static int the_newest_mapping_is_recorded_before_anyone_asks(void)
{
    struct rmap_info info;
    struct rmap_stats before, after;
    rmap_stats(&before);
    char *p = map_anon(2 * PG, PROT_READ);
    int ok = check(rmap_query(p + PG, &info) == 0 && info.start == p && info.length == 2 * PG,
                   "rmap_query sees a mapping just made");
    char *q = map_anon(PG, PROT_READ | PROT_WRITE);
    ok &= check(rmap_unmap(p, PG) == 0 && rmap_query(p, &info) == -1 && errno == ENOENT &&
                    rmap_query(p + PG, &info) == 0 && info.start == p + PG && info.length == PG,
                "an unmap of the mapping before it trims that one");
    ok &= check(rmap_query(q, &info) == 0 && info.start == q && info.prot == (PROT_READ | PROT_WRITE),
                "and leaves the newest recorded");
    rmap_unmap(p + PG, PG);
    ok &= check(rmap_unmap(q, PG) == 0 && rmap_query(q, &info) == -1 && errno == ENOENT,
                "the newest unmapped whole is gone");
    ok &= check(rmap_unmap(q, PG) == 0, "unmapping it again: the kernel's 0, checked mode being off");
    char *r = map_anon(2 * PG, PROT_READ);
    ok &= check(rmap_unmap(r + PG, PG) == 0 && rmap_query(r, &info) == 0 && info.length == PG &&
                    rmap_unmap(r, PG) == 0 && rmap_query(r, &info) == -1 && errno == ENOENT,
                "an unmap of the newest's tail trims it");
    char *s = map_anon(3 * PG, PROT_READ);
    ok &= check(rmap_unmap(s + PG, PG) == 0 && rmap_query(s, &info) == 0 && info.length == PG &&
                    rmap_query(s + 2 * PG, &info) == 0 && info.length == PG,
                "an unmap inside the newest splits it");
    rmap_unmap(s, 3 * PG);
    rmap_stats(&after);
    printf("     live %zu -> %zu mappings, %zu -> %zu bytes; +%llu maps, +%llu unmaps\n", before.live_mappings,
           after.live_mappings, before.live_bytes, after.live_bytes, (unsigned long long)(after.maps - before.maps),
           (unsigned long long)(after.unmaps - before.unmaps));
    ok &= check(after.live_mappings == before.live_mappings && after.live_bytes == before.live_bytes &&
                    after.maps - before.maps == 4 && after.unmaps - before.unmaps == 8,
                "rmap_stats counts them all");

    /* Checked mode turned on with the newest pending: it is librmap's. */
    int devnull = open("/dev/null", O_WRONLY);
    int saved = dup(2);
    dup2(devnull, 2);
    char *t = map_anon(PG, PROT_READ);
    rmap_set_check(RMAP_CHECK_REPORT);
    int unmapped = rmap_unmap(t, PG);
    char *u = map_anon(PG, PROT_READ);
    int foreign_unmap = rmap_unmap(u, PG);
    rmap_set_check(RMAP_CHECK_OFF);
    dup2(saved, 2);
    ok &= check(unmapped == 0, "checked mode turned on after the map: the unmap is allowed");
    ok &= check(foreign_unmap == 0, "a map and unmap in checked mode: allowed");

    /* Fork with the newest pending: the child has it recorded. */
    char *v = map_anon(PG, PROT_READ);
    pid_t child = fork();
    if (child == 0) _exit(rmap_query(v, &info) == 0 && info.start == v ? 0 : 1);
    int status = 0;
    waitpid(child, &status, 0);
    ok &= check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "a child forked right after the map has it recorded");
    ok &= check(rmap_unmap(v, PG) == 0 && rmap_query(v, &info) == -1, "and the parent unmaps it");
    return ok ? 0 : 1;
}

/* The edges of the common map's own path (validate::plain_map): a length
 * that rounds to the newest mapping's pages unmaps it whole; a misaligned
 * address inside it is EINVAL and leaves it; a map the path refuses
 * (a MAP_SHARED_VALIDATE file map) is recorded at once; a common map that fails
 * leaves the newest mapping as it was. */
static int the_common_paths_edges_keep_the_registry_right(void)
{
    struct rmap_info info;
    char *p = map_anon(2 * PG, PROT_READ);
    int ok = check(rmap_unmap(p + 1, PG) == -1 && errno == EINVAL && rmap_query(p, &info) == 0 &&
                       info.length == 2 * PG,
                   "a misaligned unmap inside the newest: EINVAL, and it stays whole");
    ok &= check(rmap_unmap(p, 2 * PG - 1) == 0 && rmap_query(p, &info) == -1 && errno == ENOENT &&
                    rmap_query(p + PG, &info) == -1 && errno == ENOENT,
                "an unmap of 2 pages less a byte forgets the 2-page newest whole");
    int file = temp_file(PG);
    char *v = rmap_map(NULL, PG, PROT_READ, MAP_SHARED_VALIDATE, file, 0);
    close(file);
    ok &= check(v != RMAP_FAILED && rmap_query(v, &info) == 0 && info.start == v && info.length == PG,
                "a MAP_SHARED_VALIDATE file map (not the common path) is recorded");
    char *q = map_anon(PG, PROT_READ);
    int wronly = open("/dev/null", O_WRONLY);
    errno = 0;
    void *failed = rmap_map(NULL, PG, PROT_READ, MAP_PRIVATE, wronly, 0);
    int failed_errno = errno;
    void *libc_failed = mmap(NULL, PG, PROT_READ, MAP_PRIVATE, wronly, 0);
    int libc_errno = errno;
    close(wronly);
    printf("     a private map of a write-only fd: rmap %s errno %d, libc %s errno %d\n",
           failed == RMAP_FAILED ? "failed" : "mapped", failed_errno, libc_failed == MAP_FAILED ? "failed" : "mapped",
           libc_errno);
    ok &= check(failed == RMAP_FAILED && libc_failed == MAP_FAILED && failed_errno == libc_errno,
                "a common map the kernel refuses fails as libc's does");
    ok &= check(rmap_query(q, &info) == 0 && info.start == q && info.length == PG && rmap_unmap(q, PG) == 0 &&
                    rmap_query(q, &info) == -1 && errno == ENOENT,
                "and leaves the newest mapping before it recorded, then unmapped");
    ok &= check(v != RMAP_FAILED && rmap_unmap(v, PG) == 0 && rmap_query(v, &info) == -1 && errno == ENOENT,
                "the recorded one unmaps as any other");
    return ok ? 0 : 1;
}

/* With nothing pending, the common map and unmap of a single-threaded
 * process take a shorter path of their own (mapping::map_common): a map the
 * kernel refuses there fails as libc's, is counted once as a failure and
 * not as a map, and leaves nothing behind; the next pair is whole. */
static int a_refused_common_map_is_counted_and_leaves_nothing(void)
{
    struct rmap_stats before, after;
    struct rmap_info info;
    char *p = map_anon(PG, PROT_READ);
    if (rmap_unmap(p, PG) != 0) die("rmap_unmap"); /* nothing pending now */
    rmap_stats(&before);
    int wronly = open("/dev/null", O_WRONLY);
    errno = 0;
    void *failed = rmap_map(NULL, PG, PROT_READ, MAP_PRIVATE, wronly, 0);
    int failed_errno = errno;
    errno = 0;
    void *libc_failed = mmap(NULL, PG, PROT_READ, MAP_PRIVATE, wronly, 0);
    int libc_errno = errno;
    close(wronly);
    rmap_stats(&after);
    printf("     rmap %s errno %d, libc %s errno %d; +%llu failures, +%llu maps, live %zu -> %zu\n",
           failed == RMAP_FAILED ? "failed" : "mapped", failed_errno, libc_failed == MAP_FAILED ? "failed" : "mapped",
           libc_errno, (unsigned long long)(after.failures - before.failures),
           (unsigned long long)(after.maps - before.maps), before.live_mappings, after.live_mappings);
    int ok = check(failed == RMAP_FAILED && libc_failed == MAP_FAILED && failed_errno == libc_errno,
                   "a private map of a write-only fd, nothing pending: fails as libc's does");
    ok &= check(after.failures - before.failures == 1 && after.maps == before.maps &&
                    after.live_mappings == before.live_mappings,
                "counted once as a failure, not as a map; nothing recorded");
    char *q = map_anon(PG, PROT_READ | PROT_WRITE);
    ok &= check(rmap_query(q, &info) == 0 && info.start == q && info.length == PG && rmap_unmap(q, PG) == 0 &&
                    rmap_query(q, &info) == -1 && errno == ENOENT,
                "the next map is recorded, and its unmap forgets it");
    return ok ? 0 : 1;
}

/* The common map of a single-threaded process leaves its mapping pending
 * without the lock word; a thread made next must find it recorded or
 * unmap it under the lock, and maps made once threads exist take the
 * locked path: the counts and records stay exact across the change. */
static void *unmap_the_pending(void *arg)
{
    char *p = arg;
    struct rmap_info info;
    int ok = rmap_query(p, &info) == 0 && info.start == p && info.length == PG && rmap_unmap(p, PG) == 0 &&
             rmap_query(p, &info) == -1 && errno == ENOENT;
    return ok ? arg : NULL;
}

static int a_thread_made_after_the_common_map_sees_it(void)
{
    struct rmap_stats before, after;
    struct rmap_info info;
    rmap_stats(&before);
    char *p = map_anon(PG, PROT_READ);
    char *q = map_anon(PG, PROT_READ | PROT_WRITE);
    rmap_unmap(q, PG); /* the leaf's pair: nothing pending after it */
    char *r = map_anon(PG, PROT_READ);
    pthread_t thread;
    void *result = NULL;
    if (pthread_create(&thread, NULL, unmap_the_pending, r) != 0 || pthread_join(thread, &result) != 0)
        die("pthread");
    int ok = check(result == r, "a thread made after the map finds it recorded and unmaps it");
    char *s = map_anon(PG, PROT_READ);
    ok &= check(rmap_query(s, &info) == 0 && info.start == s && rmap_unmap(s, PG) == 0 &&
                    rmap_query(s, &info) == -1 && errno == ENOENT,
                "a map and unmap once threads existed: recorded, then forgotten");
    ok &= check(rmap_query(p, &info) == 0 && info.start == p && info.length == PG && rmap_unmap(p, PG) == 0,
                "the first mapping is still recorded whole");
    rmap_stats(&after);
    printf("     +%llu maps, +%llu unmaps, live %zu -> %zu\n", (unsigned long long)(after.maps - before.maps),
           (unsigned long long)(after.unmaps - before.unmaps), before.live_mappings, after.live_mappings);
    ok &= check(after.maps - before.maps == 4 && after.unmaps - before.unmaps == 4 &&
                    after.live_mappings == before.live_mappings,
                "rmap_stats counts every call, nothing left live");
    return ok ? 0 : 1;
}

/* The pending record at an address reused behind librmap's back: the
 * program unmaps the newest mapping with libc's munmap and the kernel hands
 * the same address to the next rmap_map, whose record must win. */
static int a_reused_address_takes_the_newest_record(void)
{
    struct rmap_info info;
    char *p = map_anon(2 * PG, PROT_READ);
    munmap(p, 2 * PG);
    char *q = rmap_map(p, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (q != p) skip_test("the kernel did not hand the address out again");
    printf("     a 2-page mapping at %p unmapped with libc's munmap; rmap_map of one page got %p again\n", (void *)p,
           (void *)q);
    int ok = check(rmap_query(q, &info) == 0 && info.start == q && info.length == PG &&
                       info.prot == (PROT_READ | PROT_WRITE),
                   "the new mapping's record, not the stale one's");
    /* Replaced behind librmap's back again while still pending: rmap_unmap
     * does what munmap does (checked mode off) and forgets the record. */
    rmap_unmap(q, PG);
    char *t = map_anon(PG, PROT_READ);
    munmap(t, PG);
    char *r = mmap(t, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
    unsigned char vec[1];
    ok &= check(r == t && rmap_unmap(t, PG) == 0 && rmap_query(t, &info) == -1 && errno == ENOENT &&
                    mincore(t, PG, vec) == -1 && errno == ENOMEM,
                "a pending record over libc's mapping: unmapped, as munmap would, and forgotten");
    return ok ? 0 : 1;
}

/* ---- checked mode ---- */

static int checked_reports_each_kind(void)
{
    int ok = 1;
    void *addr = NULL;
    setenv("RMAP_CHECK_BEYOND_EOF", "map", 1); /* reported when mapped, not only when touched */
    run_t r = run_scenario("beyond-eof", "1");
    unsetenv("RMAP_CHECK_BEYOND_EOF");
    char want[512];
    ok &= sscanf(r.out, "%p", &addr) == 1;
    snprintf(want, sizeof want,
             "rmap: beyond-eof: rmap_map(%p, %zu) maps offset 0 of a 100-byte file: touching file offsets from %zu on "
             "raises SIGBUS\n",
             addr, 2 * PG, PG);
    printf("     %s", r.err);
    ok &= check(exited_ok(&r) && strcmp(unlocated(&r), want) == 0, "beyond-eof line");

    r = run_scenario("write-exec", "1");
    ok &= sscanf(r.out, "%p", &addr) == 1;
    snprintf(want, sizeof want, "rmap: write-exec: rmap_map(%p, %zu) is both writable and executable\n", addr, PG);
    printf("     %s", r.err);
    ok &= check(exited_ok(&r) && strcmp(unlocated(&r), want) == 0, "write-exec line");

    r = run_scenario("leak", "1");
    ok &= sscanf(r.out, "%p", &addr) == 1;
    /* The creation site is this program's own object (wherever the tree
     * lies and whatever it is called), never librmap's. */
    snprintf(want, sizeof want, "rmap: leak: %zu bytes at %p still mapped at exit, created at %s+0x", PG, addr,
             self_program());
    printf("     %s", r.err);
    ok &= check(exited_ok(&r) && strncmp(r.err, want, strlen(want)) == 0,
                "leak line naming the program's code that created the mapping");

    r = run_scenario("double-unmap", "1");
    int rc = 0;
    char name[32] = "";
    ok &= sscanf(r.out, "%p %d %31s", &addr, &rc, name) == 3;
    snprintf(want, sizeof want, "rmap: double-unmap: rmap_unmap(%p, %zu): already unmapped at ", addr, PG);
    printf("     %s", r.err);
    const char *rest = unlocated(&r);
    ok &= check(strncmp(rest, want, strlen(want)) == 0 && strstr(rest, "; refused with EINVAL\n") && rc == -1 &&
                    strcmp(name, "EINVAL") == 0,
                "double unmap reported as such and refused with EINVAL");
    /* Both locations: the second rmap_unmap, and the first, the line before it. */
    char where[256] = "", first[256] = "", second_line[64] = "";
    char rest_copy[4096];
    split_location(r.err, rest_copy, sizeof rest_copy, where, sizeof where);
    snprintf(second_line, sizeof second_line, "%s", source_line_of(where));
    sscanf(rest + (strncmp(rest, want, strlen(want)) == 0 ? strlen(want) : 0), "%255[^;]", first);
    const char *first_line = source_line_of(first);
    printf("     %s is %s; %s is %s\n", where, second_line, first, first_line);
    ok &= check(strncmp(second_line, "registry.c:", 11) == 0 && strncmp(first_line, "registry.c:", 11) == 0 &&
                    atoi(second_line + 11) == atoi(first_line + 11) + 1,
                "the report names the second unmap's line and the first's (the line before)");
    return ok ? 0 : 1;
}

static int checked_reports_the_new_calls(void)
{
    int ok = 1;
    void *addr = NULL;
    int rc = 0;
    char want[512], name[32] = "";
    run_t r = run_scenario("protect-write-exec", "1");
    ok &= sscanf(r.out, "%p %d", &addr, &rc) == 2;
    snprintf(want, sizeof want, "rmap: write-exec: rmap_protect(%p, %zu) is both writable and executable\n", addr, PG);
    printf("     %s", r.err);
    ok &= check(exited_ok(&r) && rc == 0 && strcmp(unlocated(&r), want) == 0,
                "write-exec line for rmap_protect, call made");

    setenv("RMAP_CHECK_BEYOND_EOF", "map", 1);
    r = run_scenario("remap-beyond-eof", "1");
    unsetenv("RMAP_CHECK_BEYOND_EOF");
    ok &= sscanf(r.out, "%p", &addr) == 1;
    snprintf(want, sizeof want,
             "rmap: beyond-eof: rmap_remap(%p, %zu) maps offset 0 of a %zu-byte file: touching file offsets from %zu on "
             "raises SIGBUS\n",
             addr, 3 * PG, PG, PG);
    printf("     %s", r.err);
    ok &= check(exited_ok(&r) && strcmp(unlocated(&r), want) == 0, "beyond-eof line for a growing rmap_remap");

    r = run_scenario("stale-unmap", "1");
    ok &= sscanf(r.out, "%p %d %31s", &addr, &rc, name) == 3;
    snprintf(want, sizeof want,
             "rmap: unmap-unowned: rmap_unmap(%p, %zu): the librmap mapping here was unmapped or replaced behind "
             "librmap's back (munmap, mmap or mremap called directly); refused with EINVAL\n",
             addr, PG);
    printf("     %s", r.err);
    ok &= check(exited_ok(&r) && rc == -1 && strcmp(name, "EINVAL") == 0 && strcmp(unlocated(&r), want) == 0,
                "a stale record does not let rmap_unmap touch the foreign mapping now there");

    r = run_scenario("stale-leak", "1");
    ok &= check(exited_ok(&r) && r.err[0] == 0, "no leak reported for a mapping the kernel no longer has");
    return ok ? 0 : 1;
}

static int abort_mode_reports_then_aborts(void)
{
    run_t r = run_scenario("unmap-unowned", "abort");
    printf("     %s", r.err);
    return check(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGABRT && strncmp(r.err, "rmap: unmap-unowned: ", 21) == 0,
                 "one report line, then SIGABRT")
               ? 0
               : 1;
}

/* RMAP_CHECK_SUMMARY, _LEAKS, _LOG and _ERROR_EXITCODE, as rmap-check sets
 * them, in a program that calls librmap itself. */
static int report_settings_from_the_environment(void)
{
    char log[] = "/tmp/rmap-registry-log-XXXXXX";
    int fd = mkstemp(log);
    if (fd < 0) return check(0, "a temp file for the log"), 1;
    close(fd);
    setenv("RMAP_CHECK_SUMMARY", "yes", 1);
    setenv("RMAP_CHECK_ERROR_EXITCODE", "7", 1);
    run_t r = run_scenario("double-unmap", "1");
    printf("     %s", r.err);
    int ok = check(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 7, "RMAP_CHECK_ERROR_EXITCODE=7: exit status 7 after a report");
    ok &= check(strstr(r.err, ": 3 calls (rmap_map 1, rmap_unmap 2), 1 report (double-unmap 1)\n") != NULL,
                "RMAP_CHECK_SUMMARY=yes: the summary counts rmap_map 1, rmap_unmap 2 and the report");
    setenv("RMAP_CHECK_LEAKS", "no", 1);
    r = run_scenario("leak", "1");
    ok &= check(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0 && strstr(r.err, "rmap: leak:") == NULL &&
                    strstr(r.err, "0 reports") != NULL,
                "RMAP_CHECK_LEAKS=no: no leak line, no report, exit 0");
    unsetenv("RMAP_CHECK_LEAKS");
    setenv("RMAP_CHECK_LOG", log, 1);
    r = run_scenario("leak", "1");
    unsetenv("RMAP_CHECK_LOG");
    unsetenv("RMAP_CHECK_SUMMARY");
    unsetenv("RMAP_CHECK_ERROR_EXITCODE");
    char logged[4096] = "";
    FILE *f = fopen(log, "r");
    size_t got = f ? fread(logged, 1, sizeof logged - 1, f) : 0;
    logged[got] = 0;
    if (f) fclose(f);
    unlink(log);
    ok &= check(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 7 && r.err[0] == 0 &&
                    strncmp(logged, "rmap: leak: ", 12) == 0 && strstr(logged, "\nrmap: summary: ") != NULL,
                "RMAP_CHECK_LOG: the leak line and the summary in the file, nothing on stderr");
    return ok ? 0 : 1;
}

static int default_mode_reports_nothing_and_changes_nothing(void)
{
    const char *names[] = {"leak", "beyond-eof", "write-exec", "unmap-unowned", "double-unmap", "sync-hole"};
    int ok = 1;
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        run_t r = run_scenario(names[i], NULL);
        ok &= check(exited_ok(&r) && r.err[0] == 0, names[i]);
        if (strstr(names[i], "unmap")) ok &= check(strstr(r.out, " 0 -") != NULL, "unmap succeeds, as munmap does");
        if (strstr(names[i], "sync")) ok &= check(strstr(r.out, " -1 ENOMEM") != NULL, "sync fails ENOMEM, as msync does");
    }
    printf("     6 scenarios without RMAP_CHECK: no report, results as libc's\n");
    return ok ? 0 : 1;
}

static int set_check_from_the_program(void)
{
    int devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 2);
    char *foreign = mmap(NULL, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    int ok = check(rmap_set_check(RMAP_CHECK_REPORT) == 0, "turned on");
    ok &= check(rmap_unmap(foreign, PG) == -1 && errno == EINVAL, "refused while on");
    ok &= check(rmap_set_check(RMAP_CHECK_OFF) == 0 && rmap_unmap(foreign, PG) == 0, "POSIX again when off");
    return ok ? 0 : 1;
}

/* ---- threads ---- */

enum { THREADS = 8, SLOTS = 64 };
typedef struct {
    char *start;
    size_t len;
    int prot;
    int locked;
} rec_t;
typedef struct {
    unsigned seed;
    rec_t live[SLOTS];
    long ops;
    int bad;
} worker_t;
static atomic_int stop_flag;

static void *worker(void *arg)
{
    worker_t *w = arg;
    while (!atomic_load(&stop_flag)) {
        rec_t *r = &w->live[rand_r(&w->seed) % SLOTS];
        struct rmap_info info;
        unsigned char vec[8];
        char *moved;
        switch (rand_r(&w->seed) % 8) {
        case 0: /* map into an empty slot, or unmap a full one */
            if (!r->start) {
                r->len = PG * (1 + rand_r(&w->seed) % 4);
                r->prot = rand_r(&w->seed) % 2 ? PROT_READ : PROT_READ | PROT_WRITE;
                r->locked = 0;
                r->start = rmap_map(NULL, r->len, r->prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
                if (r->start == RMAP_FAILED) r->start = NULL, w->bad++;
            } else {
                w->bad += rmap_unmap(r->start, r->len) != 0;
                r->start = NULL;
            }
            break;
        case 1: /* trim the first page */
            if (r->start && r->len > PG) {
                w->bad += rmap_unmap(r->start, PG) != 0;
                r->start += PG, r->len -= PG;
            }
            break;
        case 2:
            if (r->start) w->bad += rmap_sync(r->start, r->len, MS_ASYNC) != 0;
            break;
        case 3: /* flip the protection */
            if (r->start) {
                int prot = r->prot == PROT_READ ? PROT_READ | PROT_WRITE : PROT_READ;
                w->bad += rmap_protect(r->start, r->len, prot) != 0;
                r->prot = prot;
            }
            break;
        case 4: /* flip the lock state */
            if (r->start) {
                w->bad += (r->locked ? rmap_unlock(r->start, r->len) : rmap_lock(r->start, r->len)) != 0;
                r->locked = !r->locked;
            }
            break;
        case 5: /* grow by a page (moving if needed) or shrink by one */
            if (r->start && r->len < 4 * PG) {
                moved = rmap_remap(r->start, r->len, r->len + PG, MREMAP_MAYMOVE);
                if (moved == RMAP_FAILED) w->bad++;
                else r->start = moved, r->len += PG;
            } else if (r->start) {
                w->bad += rmap_remap(r->start, r->len, r->len - PG, 0) != r->start;
                r->len -= PG;
            }
            break;
        case 6:
            if (r->start)
                w->bad += rmap_advise(r->start, r->len, MADV_WILLNEED) != 0 || rmap_resident(r->start, r->len, vec) != 0;
            break;
        default:
            if (r->start)
                w->bad += rmap_query(r->start + r->len - 1, &info) != 0 || info.start != r->start ||
                          info.length != r->len || info.prot != r->prot || !(info.flags & MAP_LOCKED) != !r->locked;
        }
        w->ops++;
    }
    return NULL;
}

typedef struct {
    rec_t recs[THREADS * SLOTS];
    int n;
} all_t;

static int in_records(const struct rmap_info *info, void *ctx)
{
    all_t *all = ctx;
    for (int i = 0; i < all->n; i++)
        if (all->recs[i].start == info->start && all->recs[i].len == info->length && all->recs[i].prot == info->prot &&
            !all->recs[i].locked == !(info->flags & MAP_LOCKED)) {
            all->recs[i].len = 0; /* matched */
            return 0;
        }
    return 1; /* the registry has a mapping no thread holds */
}


/* Under valgrind (memory checking, one emulated CPU) the stress and fork
 * tests run shorter; the native run does the full amount. */
static int eight_threads_registry_matches_the_kernel(void)
{
    unsigned seconds = under_valgrind() ? 1 : 3;
    static worker_t workers[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        memset(&workers[i], 0, sizeof workers[i]);
        workers[i].seed = (unsigned)i + 1;
        pthread_create(&th[i], NULL, worker, &workers[i]);
    }
    sleep(seconds);
    atomic_store(&stop_flag, 1);
    long ops = 0;
    int bad = 0;
    static all_t all;
    all.n = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        ops += workers[i].ops;
        bad += workers[i].bad;
        for (int s = 0; s < SLOTS; s++)
            if (workers[i].live[s].start) all.recs[all.n++] = workers[i].live[s];
    }
    int in_kernel = 0;
    for (int i = 0; i < all.n; i++) in_kernel += kernel_has(all.recs[i].start, all.recs[i].len, all.recs[i].prot);
    int live = all.n;
    int extra = rmap_foreach(in_records, &all);
    int missing = 0;
    for (int i = 0; i < all.n; i++) missing += all.recs[i].len != 0;
    printf("     %ld operations (map, unmap, sync, protect, lock, unlock, remap, advise, resident, query) in %u s by %d "
           "threads; %d live mappings: registry extra %d, missing %d; "
           "%d of %d found in /proc/self/maps with their protections; %d failed calls\n",
           ops, seconds, THREADS, live, extra, missing, in_kernel, live, bad);
    return check(bad == 0 && extra == 0 && missing == 0 && in_kernel == live, "registry = threads' records = kernel")
               ? 0
               : 1;
}

static void *busy(void *arg)
{
    (void)arg;
    struct rmap_info info;
    while (!atomic_load(&stop_flag)) {
        char *p = rmap_map(NULL, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        rmap_query(p, &info);
        rmap_unmap(p, PG);
    }
    return NULL;
}

static int fork_1000_times_while_threads_map(void)
{
    pthread_t th[3];
    for (int i = 0; i < 3; i++) pthread_create(&th[i], NULL, busy, NULL);
    int forks = under_valgrind() ? 50 : 1000, good = 0;
    for (int i = 0; i < forks; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            alarm(10); /* a deadlocked child dies of SIGALRM */
            struct rmap_info info;
            char *p = rmap_map(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            int ok = p != RMAP_FAILED && rmap_query(p, &info) == 0 && info.start == p && rmap_unmap(p, PG) == 0;
            _exit(ok ? 0 : 1);
        }
        int status;
        waitpid(pid, &status, 0);
        int fine = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        if (!fine && good == i)
            printf("     child %d: %s %d\n", i, WIFSIGNALED(status) ? "signal" : "exit",
                   WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
        good += fine;
    }
    atomic_store(&stop_flag, 1);
    for (int i = 0; i < 3; i++) pthread_join(th[i], NULL);
    printf("     %d of %d children mapped, queried and unmapped without deadlock\n", good, forks);
    return check(good == forks, "every child") ? 0 : 1;
}

static const test_t TESTS[] = {
    E(query_enoent_not_mapped, ENOENT),
    E(query_einval_null_info, EINVAL),
    E(stats_einval_null, EINVAL),
    E(foreach_einval_null_fn, EINVAL),
    E(set_check_einval_mode, EINVAL),
    E(unmap_einval_unowned_checked, EINVAL),
    E(remap_einval_unowned_checked, EINVAL),
    K(other_calls_get_the_kernels_answer_in_checked_mode),
    K(map_fails_cleanly_when_the_registry_cannot_grow),
    K(query_reports_the_mapping),
    K(protect_middle_page_splits_in_three_and_merges_back),
    K(remap_move_records_the_new_range_only),
    K(remap_dontunmap_records_both_ranges),
    K(remap_fixed_replaces_what_it_covers),
    K(lock_state_shows_in_flags),
    K(dontfork_ranges_are_not_in_the_child),
    K(file_identity_is_learnt_from_the_kernel),
    K(checked_reports_the_new_calls),
    K(partial_unmap_splits_and_trims),
    K(fixed_replaces_and_foreach_walks_in_order),
    K(foreach_stops_on_nonzero),
    K(stats_count_live_and_calls),
    K(the_newest_mapping_is_recorded_before_anyone_asks),
    K(a_reused_address_takes_the_newest_record),
    K(the_common_paths_edges_keep_the_registry_right),
    K(a_refused_common_map_is_counted_and_leaves_nothing),
    K(a_thread_made_after_the_common_map_sees_it),
    K(checked_reports_each_kind),
    K(abort_mode_reports_then_aborts),
    K(report_settings_from_the_environment),
    K(default_mode_reports_nothing_and_changes_nothing),
    K(set_check_from_the_program),
    K(eight_threads_registry_matches_the_kernel),
    K(fork_1000_times_while_threads_map),
};

int main(int argc, char **argv)
{
    harness_init();
    if (argc == 3 && strcmp(argv[1], "--scenario") == 0) return scenario(argv[2]);
    return run_tests("registry", TESTS, sizeof TESTS / sizeof *TESTS, argc > 1 ? argv[1] : NULL);
}
