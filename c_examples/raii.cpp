// C++17 through rmap.h: an RAII wrapper of its own, built with -Wall -Wextra -Werror.
#include <rmap.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <string>
#include <system_error>
#include <unistd.h>
#include <utility>

namespace {

class Mapping {
public:
    Mapping(int fd, std::size_t length, int prot, int flags) : length_(length)
    {
        void *p = rmap_map(nullptr, length, prot, flags, fd, 0);
        if (p == RMAP_FAILED) throw std::system_error(errno, std::generic_category(), "rmap_map");
        data_ = static_cast<char *>(p);
    }
    Mapping(Mapping &&other) noexcept : data_(std::exchange(other.data_, nullptr)), length_(other.length_) {}
    Mapping(const Mapping &) = delete;
    Mapping &operator=(const Mapping &) = delete;
    Mapping &operator=(Mapping &&) = delete;
    ~Mapping()
    {
        if (data_) rmap_unmap(data_, length_);
    }

    char *data() const { return data_; }
    std::size_t size() const { return length_; }
    void sync() const
    {
        if (rmap_sync(data_, length_, MS_SYNC) != 0) throw std::system_error(errno, std::generic_category(), "rmap_sync");
    }

private:
    char *data_;
    std::size_t length_;
};

int passed = 0, failed = 0;

void check(bool ok, const std::string &what)
{
    std::printf("%s %s\n", ok ? "ok  " : "FAIL", what.c_str());
    ok ? ++passed : ++failed;
}

}  // namespace

int main()
{
    char path[] = "/tmp/rmap-raii-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || ftruncate(fd, 4096) != 0) return 2;
    unlink(path);

    {
        Mapping m(fd, 4096, PROT_READ | PROT_WRITE, MAP_SHARED);
        std::memcpy(m.data(), "from C++", 8);
        m.sync();
        Mapping moved(std::move(m));
        check(moved.size() == 4096 && m.data() == nullptr, "a moved-from Mapping owns nothing");
    }
    char back[9] = {};
    check(pread(fd, back, 8, 0) == 8 && std::string(back) == "from C++", "a shared write reached the file after sync");

    try {
        Mapping bad(fd, 0, PROT_READ, MAP_SHARED);
        check(false, "length 0 throws");
    } catch (const std::system_error &e) {
        check(e.code().value() == EINVAL, std::string("length 0 throws EINVAL: ") + e.what());
    }

    char buf[8];
    Mapping anon(-1, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS);
    check(rmap_read(buf, anon.data(), sizeof buf) == 0 && buf[0] == 0, "rmap_read of anonymous memory reads zeros");
    check(std::string(rmap_version()) == RMAP_VERSION_STRING, std::string("library and header agree: ") + rmap_version());

    std::printf("raii: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
