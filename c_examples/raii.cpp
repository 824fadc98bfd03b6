// The test of include/rmap.hpp: every member of rmap::mapping, rmap::read,
// rmap::write and rmap::copy_error, against what the C calls do. Built with
// g++ and clang++ (-std=c++17 -Wall -Wextra -Wpedantic -Wold-style-cast
// -Werror), with g++ -std=c++20 (std::span), and under ASan.
#include <rmap.hpp>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <fcntl.h>
#include <string>
#include <sys/wait.h>
#include <system_error>
#include <type_traits>
#include <unistd.h>
#include <utility>

namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool under_asan = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool under_asan = true;
#else
constexpr bool under_asan = false;
#endif
#else
constexpr bool under_asan = false;
#endif

int passed = 0, failed = 0;

void check(bool ok, const std::string &what)
{
    std::printf("%s %s\n", ok ? "ok  " : "FAIL", what.c_str());
    ok ? ++passed : ++failed;
}

// The errno of a std::system_error thrown by `body`, or 0 if none is.
template <typename F> int errno_thrown(F body, std::string *what = nullptr)
{
    try {
        body();
    } catch (const std::system_error &error) {
        if (what) *what = error.what();
        return error.code().category() == std::generic_category() ? error.code().value() : -1;
    }
    return 0;
}

// A temporary file of `length` bytes 'a'..'z' repeated, unlinked at once.
int temp_file(std::size_t length)
{
    char path[] = "/tmp/rmap-hpp-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) std::abort();
    unlink(path);
    std::string bytes(length, ' ');
    for (std::size_t i = 0; i < length; i++) bytes[i] = static_cast<char>('a' + i % 26);
    if (write(fd, bytes.data(), length) != static_cast<ssize_t>(length)) std::abort();
    return fd;
}

// The file behind `fd` truncated to `length` by another process.
void truncate_elsewhere(int fd, off_t length)
{
    pid_t pid = fork();
    if (pid == 0) _exit(ftruncate(fd, length) == 0 ? 0 : 1);
    int status = 0;
    waitpid(pid, &status, 0);
}

} // namespace

int main()
{
    const std::size_t page = rmap_pagesize();
    static_assert(!std::is_copy_constructible_v<rmap::mapping>, "move-only");
    static_assert(std::is_nothrow_move_constructible_v<rmap::mapping>, "moves never throw");

    {
        rmap::mapping empty;
        check(empty.empty() && !empty && empty.data() == nullptr && empty.size() == 0, "a default mapping holds nothing");
    }
    {
        rmap::mapping m = rmap::mapping::anonymous(3 * page);
        check(m && !m.empty() && m.size() == 3 * page, "anonymous: 3 pages");
        rmap::span<unsigned char> bytes = m.bytes();
        bool zero = true;
        for (unsigned char b : bytes) zero &= b == 0;
        bytes[5] = 'x';
        check(zero && bytes.size() == 3 * page && static_cast<unsigned char *>(m.data())[5] == 'x',
              "bytes(): a span over the zero-filled mapping, writable");
        m.write(10, "hello", 5);
        char back[6] = {};
        m.read(10, back, 5);
        check(std::strcmp(back, "hello") == 0, "read/write members copy at an offset");

        m.protect(page, page, PROT_READ);
        rmap_info info = m.query();
        check(info.start == m.data() && info.length == page && info.prot == (PROT_READ | PROT_WRITE),
              "protect(offset, length): query() sees the first page split off");
        m.protect(PROT_READ | PROT_WRITE);
        check(m.query().length == 3 * page, "protect(): whole again, one record");
        m.advise(MADV_WILLNEED);
        m.advise(page, page, MADV_NORMAL);
        m.lock();
        check((m.query().flags & MAP_LOCKED) != 0, "lock(): MAP_LOCKED in query()");
        m.unlock();
        m.lock(0, page);
        m.unlock(0, page);
        check((m.query().flags & MAP_LOCKED) == 0, "unlock(): cleared");
        m.sync();
        m.sync(page, page, MS_ASYNC);
        std::vector<bool> resident = m.resident();
        check(resident.size() == 3 && resident[0], "resident(): one flag per page, the written page in memory");

        m.remap(16 * page);
        check(m.size() == 16 * page && m.bytes()[5] == 'x', "remap(): grown to 16 pages, contents kept");
        {
            rmap::mapping target = rmap::mapping::anonymous(16 * page, PROT_NONE);
            void *there = target.release();
            m.remap(16 * page, MREMAP_MAYMOVE | MREMAP_FIXED, there);
            check(m.data() == there && m.bytes()[5] == 'x' && m.query().start == there,
                  "remap(MREMAP_FIXED, address): moved there, replacing what was mapped");
        }
        rmap::mapping moved = std::move(m);
        check(!m && moved.size() == 16 * page, "move construction takes the range");
        rmap::mapping other = rmap::mapping::anonymous(page);
        other = std::move(moved);
        check(!moved && other.size() == 16 * page, "move assignment unmaps the old range, takes the new");
        void *raw = other.release();
        check(!other && raw != nullptr, "release(): the caller owns the range");
        check(rmap_unmap(raw, 16 * page) == 0, "which rmap_unmap then unmaps");
    }
    {
        struct rmap_stats before{};
        rmap_stats(&before);
        {
            rmap::mapping scoped = rmap::mapping::anonymous(page);
            scoped.reset();
            check(!scoped, "reset(): unmapped now");
        }
        struct rmap_stats after{};
        rmap_stats(&after);
        check(after.live_mappings == before.live_mappings && after.unmaps == before.unmaps + 1,
              "the destructor of a reset mapping unmaps nothing more");
    }
    {
        int fd = temp_file(3 * page);
        rmap::mapping m = rmap::mapping::file(fd, 3 * page, PROT_READ | PROT_WRITE);
        check(m.bytes()[0] == 'a' && m.query().offset == 0, "file(): the file's bytes");
        rmap::mapping later = rmap::mapping::file(fd, page, PROT_READ, MAP_PRIVATE, static_cast<off_t>(page));
        check(later.bytes()[0] == 'a' + page % 26, "file(offset): a later page, private");
        m.bytes()[1] = 'Z';
        m.sync(0, page);
        char byte = 0;
        check(pread(fd, &byte, 1, 1) == 1 && byte == 'Z', "sync(offset, length): the write reached the file");

        truncate_elsewhere(fd, static_cast<off_t>(page + 10));
        std::string buffer(3 * page, ' ');
        try {
            rmap::read(&buffer[0], m.data(), 3 * page);
            check(false, "rmap::read of a truncated file throws");
        } catch (const rmap::copy_error &error) {
            check(error.code().value() == EIO && error.code().category() == std::generic_category() &&
                      error.copied() == 2 * page && std::string(error.what()).rfind("rmap_read", 0) == 0,
                  "rmap::read: copy_error EIO after exactly 2 pages, what() names rmap_read");
        }
        try {
            rmap::write(static_cast<char *>(m.data()) + 2 * page - 2, "abcd", 4);
            check(false, "rmap::write past the end throws");
        } catch (const rmap::copy_error &error) {
            check(error.code().value() == EIO && error.copied() == 2, "rmap::write: copy_error EIO after 2 bytes");
        }
        close(fd);
    }
    {
        // A whole file (length 0), and an offset that is not page aligned.
        const std::size_t length = 2 * page + 100;
        int fd = temp_file(length);
        rmap::mapping whole = rmap::mapping::file(fd, 0, PROT_READ);
        check(whole.size() == length && whole.bytes()[length - 1] == 'a' + (length - 1) % 26,
              "file(fd, 0): the whole file, to its last byte (" + std::to_string(length) + " bytes)");
        const off_t odd = static_cast<off_t>(page + 7);
        rmap::mapping tail = rmap::mapping::file(fd, 0, PROT_READ | PROT_WRITE, MAP_SHARED, odd);
        check(tail.size() == length - page - 7 && tail.bytes()[0] == 'a' + (page + 7) % 26 &&
                  reinterpret_cast<std::uintptr_t>(tail.data()) % page == 7 && tail.mapped_size() == tail.size() + 7,
              "file(fd, 0, ..., offset page + 7): data() at that byte, size() to the end, the mapping from its page");
        rmap::mapping some = rmap::mapping::file(fd, 10, PROT_READ, MAP_PRIVATE, 3);
        check(some.size() == 10 && std::memcmp(some.data(), "defghijklm", 10) == 0, "file(fd, 10, ..., offset 3)");
        tail.bytes()[0] = '#';
        tail.sync();
        tail.advise(MADV_RANDOM);
        tail.lock();
        tail.unlock();
        char byte = 0;
        check(pread(fd, &byte, 1, odd) == 1 && byte == '#' && tail.resident().size() == 2,
              "sync(), advise(), lock() of an unaligned mapping act on its pages; resident() counts 2");
        struct rmap_stats before{};
        rmap_stats(&before);
        tail.remap(tail.size() + page);
        check(tail.size() == length - page - 7 + page && tail.bytes()[0] == '#', "remap() keeps data() at the offset");
        tail.reset();
        struct rmap_stats after{};
        rmap_stats(&after);
        check(after.live_mappings == before.live_mappings - 1, "reset() unmaps the whole mapping");
        check(errno_thrown([&] { rmap::mapping::file(fd, 0, PROT_READ, MAP_SHARED, static_cast<off_t>(length)); }) ==
                  EINVAL,
              "file(fd, 0) from the end of the file: EINVAL, nothing to map");
        check(errno_thrown([&] { rmap::mapping::file(fd, 10, PROT_READ, MAP_SHARED, -1); }) == EINVAL,
              "a negative offset: EINVAL");
        close(fd);
    }
    {
        int fd = temp_file(3 * page);
        rmap::mapping m = rmap::mapping::file(fd, 3 * page, PROT_READ | PROT_WRITE);
        m.tolerate();
        check((m.query().flags & RMAP_INFO_TOLERANT) != 0 && m.losses().empty(), "tolerate(): tolerant, nothing lost");
        truncate_elsewhere(fd, static_cast<off_t>(page));
        unsigned char *bytes = m.bytes().data();
        check(bytes[0] == 'a' && bytes[page] == 0 && bytes[2 * page + 1] == 0,
              "tolerate(): the pages past the new end read 0, no SIGBUS");
        const std::vector<off_t> lost = m.losses();
        check(lost.size() == 2 && lost[0] == static_cast<off_t>(page) && lost[1] == static_cast<off_t>(2 * page),
              "losses(): the two file offsets lost");
        check(errno_thrown([&] { m.sync(); }) == EIO && (m.query().flags & RMAP_INFO_DAMAGED) != 0,
              "sync() over a lost page throws EIO; query() says damaged");
        close(fd);
    }
    {
        int fd = temp_file(0);
        rmap::mapping log = rmap::mapping::file(fd, 1 << 20, PROT_READ | PROT_WRITE);
        log.secure(0, 5, fd);
        std::memcpy(log.data(), "hello", 5);
        log.secure(5, 6, fd);
        std::memcpy(static_cast<char *>(log.data()) + 5, " world", 6);
        char back[12] = {};
        struct stat st{};
        check(fstat(fd, &st) == 0 && st.st_size == 11 && pread(fd, back, 11, 0) == 11 &&
                  std::string(back) == "hello world",
              "secure(): a mapping longer than its file grows it in place, to the byte");
        check(errno_thrown([&] { log.secure(0, page, -1); }) == EBADF, "secure() through a bad fd throws EBADF");
        bool past = false;
        try {
            log.secure((1 << 20) - 1, 2, fd);
        } catch (const std::out_of_range &) {
            past = true;
        }
        check(past, "secure() past the end of the mapping throws std::out_of_range");
        close(fd);
    }
    {
        const int fd = rmap::shm_create("pool", page, F_SEAL_SHRINK | F_SEAL_GROW);
        rmap::mapping sealed = rmap::mapping::peer(fd, page);
        rmap::mapping longer = rmap::mapping::peer(fd, 2 * page);
        check((sealed.query().flags & RMAP_INFO_SEALED) != 0 && (longer.query().flags & RMAP_INFO_TOLERANT) != 0,
              "shm_create() sealed; peer(): plain when sealed and covered, tolerant when longer than the memfd");
        check(ftruncate(fd, 0) == -1 && errno == EPERM, "the sealed memfd cannot shrink: EPERM");
        check(errno_thrown([] { rmap::shm_create("x", 4096, 0x100); }) == EINVAL, "shm_create() with an unknown seal: EINVAL");
        close(fd);
        rmap::shared_memory pool("pool", 2 * page, F_SEAL_SHRINK | F_SEAL_GROW);
        pool.memory().bytes()[page] = 7;
        rmap::mapping seen = rmap::mapping::peer(pool.fd(), 2 * page, PROT_READ);
        rmap::shared_memory moved = std::move(pool);
        check(seen.bytes()[page] == 7 && (seen.query().flags & RMAP_INFO_SEALED) != 0 && moved.fd() >= 0 && pool.fd() == -1,
              "shared_memory: mapped writable, seen by a peer's mapping (sealed: plain), movable");
    }
    {
        std::string what;
        check(errno_thrown([] { rmap::mapping::anonymous(0); }, &what) == EINVAL &&
                  what.rfind("rmap_map", 0) == 0,
              "length 0 throws std::system_error(EINVAL, generic_category), what() " + what);
        check(errno_thrown([] { rmap::mapping::file(-1, 4096, PROT_READ); }) == EBADF, "a bad fd throws EBADF");
        rmap::mapping m = rmap::mapping::anonymous(page);
        check(errno_thrown([&] { m.protect(1, page - 1, PROT_READ); }) == EINVAL, "protect at an unaligned offset: EINVAL");
        check(errno_thrown([&] { m.sync(0, page, MS_SYNC | MS_ASYNC); }) == EINVAL, "sync with both flags: EINVAL");
        check(errno_thrown([&] { m.advise(1, page - 1, MADV_NORMAL); }) == EINVAL, "advise unaligned: EINVAL");
        check(errno_thrown([&] { m.remap(0); }) == EINVAL && m.size() == page, "remap to 0: EINVAL, unchanged");
        int outside = 0;
        const auto past_the_end = [&](auto body) {
            try {
                body();
            } catch (const std::out_of_range &) {
                return true;
            }
            return false;
        };
        unsigned char buffer[8];
        outside += past_the_end([&] { m.sync(0, page + 1); });
        outside += past_the_end([&] { m.advise(page, 1, MADV_NORMAL); });
        outside += past_the_end([&] { m.protect(0, 2 * page, PROT_NONE); });
        outside += past_the_end([&] { m.lock(page + 1, 0); });
        outside += past_the_end([&] { m.unlock(1, SIZE_MAX); });
        outside += past_the_end([&] { m.read(page - 4, buffer, 8); });
        outside += past_the_end([&] { m.write(SIZE_MAX, buffer, 1); });
        check(outside == 7 && m.query().prot == (PROT_READ | PROT_WRITE),
              "7 range members past the end throw std::out_of_range, nothing changed");
        check(!past_the_end([&] { m.read(page - 8, buffer, 8); }) && !past_the_end([&] { m.sync(page, 0); }),
              "ranges ending at the end are inside");
        rmap::mapping empty;
        check(errno_thrown([&] { empty.query(); }) == ENOENT, "query of nothing: ENOENT");
        rmap::mapping holed = rmap::mapping::anonymous(2 * page);
        rmap_unmap(static_cast<char *>(holed.data()) + page, page);
        if (under_asan) {
            std::printf("skip lock/unlock of an unmapped page: ASan's runtime replaces mlock and munlock\n");
        } else {
            check(errno_thrown([&] { holed.lock(page, page); }) == ENOMEM, "lock of an unmapped page: ENOMEM");
            check(errno_thrown([&] { holed.unlock(page, page); }) == ENOMEM, "unlock of it: ENOMEM");
        }
    }
    check(std::string(rmap_version()) == RMAP_VERSION_STRING, "library and header agree: " RMAP_VERSION_STRING);
    std::printf("raii: %d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
