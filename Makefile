# librmap: the library, its header, the seed programs and the conformance suite.
#   make               library (target/release/librmap.{so,a}) and generated header
#   make demo          build and run the seed programs, showing their output
#   make check         everything CI runs: lints, Rust tests, header check, C programs
#   make header        copy the freshly generated header over include/rmap.h
#   make clean

CARGO   ?= cargo
CC      ?= cc
RELEASE := target/release
LIB     := $(RELEASE)/librmap.so
CBIN    := target/c
CFLAGS  := -std=c11 -Wall -Wextra -Wpedantic -Werror -D_GNU_SOURCE -g -Iinclude
LDLIBS  := -L$(RELEASE) -Wl,-rpath,$(abspath $(RELEASE)) -lrmap -pthread

EXAMPLES := pagesize shared_modify private_modify shm_reader shm_writer \
            anon_parent_child past_eof fork_counter sem_counter conformance
EXAMPLE_BINS := $(addprefix $(CBIN)/,$(EXAMPLES))

.PHONY: all lib header header-check demo check lint test c-check clean

all: lib

# Cargo decides what to rebuild; build.rs writes the header and the SONAME link.
lib:
	$(CARGO) build --release

header: lib
	cp $(RELEASE)/include/rmap.h include/rmap.h

header-check: lib
	@if cmp -s $(RELEASE)/include/rmap.h include/rmap.h; then \
		echo "ok   header: include/rmap.h matches the generated header"; \
	else \
		diff -u include/rmap.h $(RELEASE)/include/rmap.h | head -40; \
		echo "FAIL header: include/rmap.h is stale; run 'make header' and commit it"; exit 1; \
	fi

$(CBIN)/%: c_examples/%.c include/rmap.h lib
	@mkdir -p $(CBIN)
	$(CC) $(CFLAGS) -o $@ $< $(LDLIBS)

demo: $(EXAMPLE_BINS)
	@bash c_examples/run.sh demo $(CBIN)

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

test:
	$(CARGO) test

c-check: header-check $(EXAMPLE_BINS)
	@bash c_examples/run.sh check $(CBIN)

check: lint test c-check

clean:
	$(CARGO) clean
