# librmap: the library, its header, the seed programs and the test suites.
#   make               library (target/release/librmap.{so,a}) and rmap-check
#   make demo          the seed programs, then what librmap adds, each explained
#   make check         everything CI runs: lints, Rust tests, header check, C programs
#   make header        regenerate include/rmap.h from src/ffi.rs (tools/header, cbindgen)
#   make man           regenerate man/*.3 from the header
#   make fuzz          the random differential with 1,000,000 tuples (SEED=n to choose)
#   make c-check       only the C programs (the seed programs and tests/c suites)
#   make check-asan    the C programs built with -fsanitize=address,undefined
#   make check-valgrind  the C programs run under valgrind
#   make install       PREFIX, BINDIR, LIBDIR, INCLUDEDIR, MANDIR, DESTDIR as usual
#   make uninstall     removes exactly what install put there
#   make bench         librmap against libc, interleaved; writes BENCHMARKS.md
#   make clean

CARGO   ?= cargo
CC      ?= cc
RELEASE := target/release
LIB     := $(RELEASE)/librmap.so
CBIN    := target/c
CFLAGS  := -std=c11 -Wall -Wextra -Wpedantic -Werror -D_GNU_SOURCE -g -Iinclude
LDLIBS  := -L$(RELEASE) -Wl,-rpath,$(abspath $(RELEASE)) -lrmap -pthread

# The one list of C programs: the seed programs and demos of c_examples/
# (checked by c_examples/run.sh), and the self-checking suites of tests/c/,
# which share tests/c/harness.c.
EXAMPLES := pagesize shared_modify private_modify shm_reader shm_writer \
            anon_parent_child past_eof fork_counter sem_counter truncate_demo tour
SUITES   := conformance nosyscall sweep differential registry fault_safe drop_in
EXAMPLE_BINS := $(addprefix $(CBIN)/,$(EXAMPLES))
SUITE_BINS   := $(addprefix $(CBIN)/,$(SUITES))
HARNESS  := tests/c/harness.c tests/c/harness.h

PYTHON  ?= python3
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
MAJOR   := $(firstword $(subst ., ,$(VERSION)))
PREFIX  ?= /usr/local
LIBDIR  ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR  ?= $(PREFIX)/share/man
MAN_PAGES := $(wildcard man/*.3)
SEED    ?= $(shell date +%s)
ASAN_BIN := target/c-asan
ASAN_BINS := $(addprefix $(ASAN_BIN)/,$(EXAMPLES) $(SUITES))

VENV    := target/venv
LIBCLANG_PATH = $(shell $(VENV)/bin/python -c 'import clang, os; print(os.path.join(os.path.dirname(clang.__file__), "native"))')

.PHONY: checker checker-check bindings-check python-check rmap-sys-check cpp-check bench install uninstall install-check abi-check all lib header header-check man man-check docs-check layers-check readme-check demo check lint test c-check \
        fuzz check-asan check-valgrind clean

all: lib checker

# Cargo decides what to rebuild; build.rs writes the SONAME link.
# The static library's system dependencies (rustc's native-static-libs, which
# cargo replays when nothing changed) become Libs.private of the .pc files.
lib:
	@mkdir -p target
	@$(CARGO) rustc --release --lib -- --print native-static-libs 2>target/rustc-lib.log; \
		status=$$?; grep -v 'native-static-libs\|^note: link against' target/rustc-lib.log >&2; exit $$status
	@sed -n 's/.*native-static-libs: //p' target/rustc-lib.log | tail -n 1 >$(RELEASE)/native-static-libs
	@$(call pkgconfig,$(abspath $(RELEASE)),$(abspath include)) >$(RELEASE)/rmap-uninstalled.pc

# rmap-check(1): the launcher (Rust) and the preload it puts in the program
# (C, linked with librmap.a, exporting only the ten C library names).
CHECKER := $(RELEASE)/rmap-check $(RELEASE)/librmap_check.so
CHECKER_BUILD := $(CARGO) build -q --release --manifest-path tools/rmap-check/Cargo.toml --target-dir target/checker
checker: lib
	@$(CHECKER_BUILD) && cp target/checker/release/rmap-check $(RELEASE)/rmap-check
	$(CC) -std=c11 -Wall -Wextra -Wpedantic -Werror -O2 -g -fPIC -shared -Iinclude \
		-o $(RELEASE)/librmap_check.so tools/rmap-check/preload.c $(RELEASE)/librmap.a \
		$$(cat $(RELEASE)/native-static-libs) -Wl,--version-script=tools/rmap-check/exports.map -Wl,-z,nodelete

# tests/rmap-check: plain programs (no librmap in their build) under rmap-check.
CHECK_BIN := target/c/rmap-check
CHECK_PROGS := $(CHECK_BIN)/misuse $(CHECK_BIN)/correct $(CHECK_BIN)/plugin.so
PLAIN_CFLAGS := -std=c11 -Wall -Wextra -Wpedantic -Werror -g
$(CHECK_BIN)/misuse $(CHECK_BIN)/correct: $(CHECK_BIN)/%: tests/rmap-check/%.c
	@mkdir -p $(CHECK_BIN)
	$(CC) $(PLAIN_CFLAGS) -o $@ $< -pthread -ldl

$(CHECK_BIN)/plugin.so: tests/rmap-check/plugin.c
	@mkdir -p $(CHECK_BIN)
	$(CC) $(PLAIN_CFLAGS) -fPIC -shared -o $@ $<

# Only where the C library's static archive is installed (run.sh says so otherwise).
$(CHECK_BIN)/misuse-static: tests/rmap-check/misuse.c
	@mkdir -p $(CHECK_BIN)
	@$(CC) $(PLAIN_CFLAGS) -static -o $@ $< 2>/dev/null || echo "no static C library: $@ not built"

checker-check: checker $(CHECK_PROGS) $(CHECK_BIN)/misuse-static $(VENV)/.ready
	@test "$$($(RELEASE)/rmap-check --version)" = "rmap-check $(VERSION)" || \
		{ echo "FAIL rmap-check's version (tools/rmap-check/Cargo.toml) is not librmap's $(VERSION)"; exit 1; }
	@bash tests/rmap-check/run.sh $(RELEASE)/rmap-check $(CHECK_BIN) $(VENV)/bin/python

# $(call pkgconfig,LIBDIR,INCLUDEDIR)
pkgconfig = printf '%s\n' 'libdir=$(1)' 'includedir=$(2)' '' 'Name: rmap' \
	'Description: Memory mapping for C, written in Rust' 'Version: $(VERSION)' \
	'Libs: -L$${libdir} -lrmap' "Libs.private: $$(cat $(RELEASE)/native-static-libs)" \
	'Cflags: -I$${includedir}'

# A local virtual environment: pytest, and libclang for bindgen (a wheel from
# PyPI, so no system package or root is needed).
$(VENV)/.ready:
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check pytest libclang numpy
	touch $@

# The pytest suite includes CPython's own test.test_mmap run against rmap.
python-check: lib $(VENV)/.ready
	$(VENV)/bin/pip install -q --disable-pip-version-check bindings/python
	cd target && venv/bin/python -m pytest -q ../bindings/python/tests
	@bash tools/wheel_check.sh

# rmap-sys finds this tree's librmap through pkg-config (rmap-uninstalled.pc).
rmap-sys-check: lib $(VENV)/.ready
	$(CARGO) fmt --manifest-path bindings/rust/rmap-sys/Cargo.toml --check
	PKG_CONFIG_PATH=$(abspath $(RELEASE)) LIBCLANG_PATH=$(LIBCLANG_PATH) $(CARGO) clippy -q \
		--manifest-path bindings/rust/rmap-sys/Cargo.toml --target-dir target/rmap-sys --all-targets -- -D warnings
	PKG_CONFIG_PATH=$(abspath $(RELEASE)) LIBCLANG_PATH=$(LIBCLANG_PATH) $(CARGO) test \
		--manifest-path bindings/rust/rmap-sys/Cargo.toml --target-dir target/rmap-sys
	@LIBCLANG_PATH=$(LIBCLANG_PATH) bash tools/rust_users_check.sh

# include/rmap.hpp and its test, c_examples/raii.cpp: C++17 with g++ and
# clang++ (installed from the distribution when missing), C++20 (std::span).
CXXWARN := -Wall -Wextra -Wpedantic -Wold-style-cast -Werror
CLANGXX ?= clang++
target/.clang-ready:
	@mkdir -p target
	@command -v $(CLANGXX) >/dev/null || { echo "installing clang from the distribution (apt-get)"; \
		export DEBIAN_FRONTEND=noninteractive; \
		{ apt-get install -y -q clang || { apt-get update -q && apt-get install -y -q clang; }; } >target/apt-clang.log 2>&1 || \
		{ tail -5 target/apt-clang.log; echo "FAIL: $(CLANGXX) is missing and apt-get could not install clang"; exit 1; }; }
	@touch $@

CPP_BINS := $(CBIN)/raii $(CBIN)/raii-clang $(CBIN)/raii-cxx20
$(CBIN)/raii: c_examples/raii.cpp include/rmap.h include/rmap.hpp lib
	@mkdir -p $(CBIN)
	$(CXX) -std=c++17 $(CXXWARN) -Iinclude -o $@ $< $(LDLIBS)

$(CBIN)/raii-clang: c_examples/raii.cpp include/rmap.h include/rmap.hpp lib target/.clang-ready
	@mkdir -p $(CBIN)
	$(CLANGXX) -std=c++17 $(CXXWARN) -Iinclude -o $@ $< $(LDLIBS)

$(CBIN)/raii-cxx20: c_examples/raii.cpp include/rmap.h include/rmap.hpp lib
	@mkdir -p $(CBIN)
	$(CXX) -std=c++20 $(CXXWARN) -Iinclude -o $@ $< $(LDLIBS)

$(ASAN_BIN)/raii: c_examples/raii.cpp include/rmap.h include/rmap.hpp lib
	@mkdir -p $(ASAN_BIN)
	$(CXX) -std=c++17 $(CXXWARN) -fsanitize=address,undefined -fno-sanitize-recover=all -Iinclude -o $@ $< $(LDLIBS)

cpp-check: $(CPP_BINS)
	@for prog in $(CPP_BINS); do $$prog >target/cpp.log 2>&1 && echo "ok   $$prog: $$(tail -n 1 target/cpp.log)" || \
		{ cat target/cpp.log; echo "FAIL $$prog"; exit 1; }; done

bindings-check: python-check rmap-sys-check cpp-check

bench: lib checker $(VENV)/.ready
	$(CC) -std=c11 -O2 -Wall -Wextra -Wpedantic -Werror -D_GNU_SOURCE -Iinclude -o target/bench bench/bench.c $(LDLIBS)
	$(CC) $(PLAIN_CFLAGS) -O2 -o target/mapping_workload bench/mapping_workload.c
	$(VENV)/bin/pip install -q --disable-pip-version-check bindings/python
	PYTHON_BENCH="$(VENV)/bin/python tools/bench_python.py" \
		CHECKER_BENCH="$(VENV)/bin/python tools/bench_checker.py $(RELEASE)/rmap-check target/mapping_workload" \
		bash tools/bench.sh target/bench

BINDIR  ?= $(PREFIX)/bin
CHECKER_MAN := tools/rmap-check/rmap-check.1

install: lib checker
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(MANDIR)/man3 \
		$(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR)/rmap $(DESTDIR)$(MANDIR)/man1
	install -m 755 $(RELEASE)/rmap-check $(DESTDIR)$(BINDIR)/rmap-check
	install -m 755 $(RELEASE)/librmap_check.so $(DESTDIR)$(LIBDIR)/rmap/librmap_check.so
	install -m 644 $(CHECKER_MAN) $(DESTDIR)$(MANDIR)/man1/
	install -m 755 $(LIB) $(DESTDIR)$(LIBDIR)/librmap.so.$(VERSION)
	ln -sf librmap.so.$(VERSION) $(DESTDIR)$(LIBDIR)/librmap.so.$(MAJOR)
	ln -sf librmap.so.$(MAJOR) $(DESTDIR)$(LIBDIR)/librmap.so
	install -m 644 $(RELEASE)/librmap.a $(DESTDIR)$(LIBDIR)/librmap.a
	install -m 644 include/rmap.h include/rmap.hpp $(DESTDIR)$(INCLUDEDIR)/
	install -m 644 $(MAN_PAGES) $(DESTDIR)$(MANDIR)/man3/
	$(call pkgconfig,$(LIBDIR),$(INCLUDEDIR)) >$(DESTDIR)$(LIBDIR)/pkgconfig/rmap.pc

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/librmap.so.$(VERSION) $(DESTDIR)$(LIBDIR)/librmap.so.$(MAJOR) \
		$(DESTDIR)$(LIBDIR)/librmap.so $(DESTDIR)$(LIBDIR)/librmap.a \
		$(DESTDIR)$(LIBDIR)/pkgconfig/rmap.pc $(DESTDIR)$(INCLUDEDIR)/rmap.h $(DESTDIR)$(INCLUDEDIR)/rmap.hpp \
		$(addprefix $(DESTDIR)$(MANDIR)/man3/,$(notdir $(MAN_PAGES))) \
		$(DESTDIR)$(BINDIR)/rmap-check $(DESTDIR)$(LIBDIR)/rmap/librmap_check.so $(DESTDIR)$(MANDIR)/man1/rmap-check.1
	-rmdir $(DESTDIR)$(LIBDIR)/rmap 2>/dev/null

# The exported symbols are exactly abi/symbols.txt: an API change is a deliberate edit there.
abi-check: lib
	@nm -D --defined-only $(LIB) | awk '{print $$3}' | sort >target/symbols.txt
	@if diff -u abi/symbols.txt target/symbols.txt; then \
		echo "ok   abi: librmap.so exports exactly the $$(wc -l <abi/symbols.txt) symbols of abi/symbols.txt"; \
	else echo "FAIL abi: exported symbols differ from abi/symbols.txt"; exit 1; fi

install-check: lib
	@bash tools/install_test.sh

# tools/header runs cbindgen over src/ffi.rs: a separate program, so that
# librmap's own build (and Rust programs depending on it) never compile it.
HEADER_TOOL := $(CARGO) run -q --manifest-path tools/header/Cargo.toml --target-dir target/header-tool --

header:
	$(HEADER_TOOL) include/rmap.h

header-check:
	@$(HEADER_TOOL) target/rmap.h.generated
	@if cmp -s target/rmap.h.generated include/rmap.h; then \
		echo "ok   header: include/rmap.h matches the header generated from src/ffi.rs"; \
	else \
		diff -u include/rmap.h target/rmap.h.generated | head -40; \
		echo "FAIL header: include/rmap.h is stale; run 'make header' and commit it"; exit 1; \
	fi

man: include/rmap.h
	$(PYTHON) tools/gen_man.py include/rmap.h man

# The committed man pages equal freshly generated ones and render without warnings.
man-check:
	@rm -rf target/man && $(PYTHON) tools/gen_man.py include/rmap.h target/man
	@if ! diff -r man target/man >/dev/null; then \
		diff -ru man target/man | head -40; \
		echo "FAIL man: man/ is stale; run 'make man' and commit it"; exit 1; fi
	@grep -q '^\.TH RMAP-CHECK 1 .* "librmap $(VERSION)"' $(CHECKER_MAN) || \
		{ echo "FAIL man: $(CHECKER_MAN) does not name librmap $(VERSION)"; exit 1; }
	@for page in man/*.3 $(CHECKER_MAN); do \
		warnings=$$(groff -man -Tutf8 -ww -z $$page 2>&1); \
		if [ -n "$$warnings" ]; then echo "$$warnings"; echo "FAIL man: $$page has groff warnings"; exit 1; fi; \
	done
	@echo "ok   man: $$(ls man/*.3 | wc -l) pages match the header; they and rmap-check.1 render without groff warnings"

docs-check:
	@$(PYTHON) tools/check_errors.py include/rmap.h man $(addprefix tests/c/,$(addsuffix .c,$(SUITES)))

# The layer table of docs/architecture.md holds for the sources (and the check can fail).
layers-check:
	@$(PYTHON) tools/check_layers.py --self-test
	@$(PYTHON) tools/check_layers.py

# The README's first C example builds and runs with the command printed under it.
readme-check: lib
	@bash tools/check_readme.sh

$(CBIN)/%: c_examples/%.c include/rmap.h lib
	@mkdir -p $(CBIN)
	$(CC) $(CFLAGS) -o $@ $< $(LDLIBS)

$(CBIN)/%: tests/c/%.c $(HARNESS) include/rmap.h lib
	@mkdir -p $(CBIN)
	$(CC) $(CFLAGS) -Itests/c -o $@ $< tests/c/harness.c $(LDLIBS)

# fault_safe runs it: a program that loads librmap only with dlopen.
$(CBIN)/unload_helper: tests/c/unload_helper.c
	@mkdir -p $(CBIN)
	$(CC) $(CFLAGS) -o $@ $< -ldl

$(ASAN_BIN)/unload_helper: tests/c/unload_helper.c
	@mkdir -p $(ASAN_BIN)
	$(CC) $(CFLAGS) -fsanitize=address,undefined -o $@ $< -ldl

$(CBIN)/fault_safe: $(CBIN)/unload_helper
$(ASAN_BIN)/fault_safe: $(ASAN_BIN)/unload_helper

demo: $(EXAMPLE_BINS)
	@bash c_examples/run.sh demo $(CBIN)

lint:
	$(CARGO) fmt --check
	$(CARGO) fmt --check --manifest-path tools/header/Cargo.toml
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) clippy -q --manifest-path tools/header/Cargo.toml --target-dir target/header-tool -- -D warnings
	$(CARGO) fmt --check --manifest-path tools/rmap-check/Cargo.toml
	$(CARGO) clippy -q --manifest-path tools/rmap-check/Cargo.toml --target-dir target/checker -- -D warnings

test:
	$(CARGO) test

c-check: $(EXAMPLE_BINS) $(SUITE_BINS)
	@bash c_examples/run.sh check $(CBIN) $(EXAMPLES)
	@bash tests/c/run.sh $(CBIN) $(SUITES)

fuzz: $(CBIN)/differential
	$(CBIN)/differential $(SEED) 1000000

$(ASAN_BIN)/%: c_examples/%.c include/rmap.h lib
	@mkdir -p $(ASAN_BIN)
	$(CC) $(CFLAGS) -fsanitize=address,undefined -fno-sanitize-recover=all -o $@ $< $(LDLIBS)

$(ASAN_BIN)/%: tests/c/%.c $(HARNESS) include/rmap.h lib
	@mkdir -p $(ASAN_BIN)
	$(CC) $(CFLAGS) -Itests/c -fsanitize=address,undefined -fno-sanitize-recover=all -o $@ $< tests/c/harness.c $(LDLIBS)

# ASan must leave SIGSEGV/SIGBUS alone: the cases that die of them check the
# signal. Forks of instrumented processes are slow, so fewer random tuples.
check-asan: $(ASAN_BINS) $(ASAN_BIN)/raii
	@for prog in $(ASAN_BINS); do \
		ldd $$prog | grep -q libasan && ldd $$prog | grep -q libubsan && nm $$prog | grep -q __asan_init || \
		{ echo "FAIL asan: $$prog is not instrumented"; exit 1; }; \
	done; echo "ok   asan: all $(words $(ASAN_BINS)) programs link the ASan and UBSan runtimes"
	@export ASAN_OPTIONS=handle_segv=0:handle_sigbus=0:detect_leaks=1 RMAP_TUPLES=2000; \
		bash c_examples/run.sh check $(ASAN_BIN) $(EXAMPLES) && bash tests/c/run.sh $(ASAN_BIN) $(SUITES)
	@ASAN_OPTIONS=handle_segv=0:handle_sigbus=0:detect_leaks=1 $(ASAN_BIN)/raii >target/cpp-asan.log 2>&1 && \
		echo "ok   rmap.hpp's test under ASan: $$(tail -n 1 target/cpp-asan.log)" || \
		{ cat target/cpp-asan.log; echo "FAIL rmap.hpp's test under ASan"; exit 1; }

# valgrind.supp silences only the calls the suites make on unmapped memory on purpose.
# --fair-sched: valgrind runs one thread at a time, and its default lock lets
# threads that loop on system calls starve the others (the fork test hung).
check-valgrind: $(EXAMPLE_BINS) $(SUITE_BINS)
	@export RUNNER="valgrind -q --fair-sched=yes --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
		--suppressions=tests/c/valgrind.supp" RMAP_UNDER_VALGRIND=1; \
		bash c_examples/run.sh check $(CBIN) $(EXAMPLES) && bash tests/c/run.sh $(CBIN) $(SUITES)

check: lint layers-check test header-check man-check docs-check abi-check readme-check install-check c-check checker-check bindings-check

clean:
	$(CARGO) clean
