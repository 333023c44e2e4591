# netprobe: eBPF network monitoring, filtering and L4 load balancing.
#
#   make            build bpf objects, skeletons, libnetprobe (.a, .so, .pc) and netprobe
#   make run        install what is missing, build, run `netprobe demo`
#   make test       install what is missing, build (with ASan and UBSan), run every test
#   make bench      run the benchmarks and rewrite docs/BENCHMARKS.md
#   make fuzz       run each libFuzzer target FUZZ_TIME seconds, grow the corpora
#   make lint       clang-tidy with the checks in .clang-tidy
#   make install    install under $(PREFIX) (DESTDIR honoured)

# SOVERSION goes up with every change of the library's ABI (a public struct's
# size: 1 when netprobe_probe_report and netprobe_event_stats grew).
VERSION      := 0.2.0
SOVERSION    := 1
PREFIX       ?= /usr/local
LIBDIR       ?= $(PREFIX)/lib
INCLUDEDIR   ?= $(PREFIX)/include
BINDIR       ?= $(PREFIX)/sbin
MANDIR       ?= $(PREFIX)/share/man
COMPLETIONDIR ?= $(PREFIX)/share/bash-completion/completions
SYSCONFDIR   ?= /etc
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
PKGLIBDIR ?= $(PREFIX)/lib/netprobe

OUTPUT       := .output
CLANG        ?= clang
BPFTOOL      ?= bpftool
CC           ?= gcc
MULTIARCH    := $(shell $(CC) -dumpmachine)

CFLAGS       ?= -O2 -g
CFLAGS       += -std=gnu11 -Wall -Wextra -Werror -fPIC -D_GNU_SOURCE -Iinclude -I$(OUTPUT) \
		-DNETPROBE_VERSION='"$(VERSION)"'
# SANITIZE=1: the library, the command, the daemon, np-bench and every unit
# test built with AddressSanitizer and UBSan (a report aborts). make test
# builds so unless told SANITIZE=0; make, make run, make bench and make
# install do not.
SAN_FLAGS    := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
CFLAGS       += $(if $(filter 1,$(SANITIZE)),$(SAN_FLAGS))
# What a build was made with: objects are made again when it changes (SANITIZE=1 and back).
FLAGS_STAMP  := $(OUTPUT)/flags
BPF_CFLAGS   := -O2 -g -target bpf -mcpu=v3 -Wall -Werror -Iinclude -I/usr/include/$(MULTIARCH)
LIBS         := -lbpf -lelf -lz -lmnl -lpthread -lm -lcap
CLI_LIBS     := $(LIBS) -ljson-c

BPF_SRCS     := $(wildcard bpf/*.bpf.c)
BPF_OBJS     := $(patsubst bpf/%.bpf.c,$(OUTPUT)/%.bpf.o,$(BPF_SRCS))
SKELS        := $(patsubst bpf/%.bpf.c,$(OUTPUT)/%.skel.h,$(BPF_SRCS))
# The library's layers are folders of src/ (see docs/ARCHITECTURE.md).
LIB_SRCS     := $(wildcard src/*.c src/*/*.c)
LIB_OBJS     := $(patsubst src/%.c,$(OUTPUT)/lib/%.o,$(LIB_SRCS))
CLI_SRCS     := $(wildcard cli/*.c)
CLI_OBJS     := $(patsubst cli/%.c,$(OUTPUT)/cli/%.o,$(CLI_SRCS))
DAEMON_SRCS  := $(wildcard daemon/*.c)
DAEMON_OBJS  := $(patsubst daemon/%.c,$(OUTPUT)/daemon/%.o,$(DAEMON_SRCS))
DAEMON_LIBS  := -lyaml -lsystemd -lmicrohttpd $(shell pkg-config --libs libfixbuf)
DAEMON_CFLAGS := $(shell pkg-config --cflags libfixbuf)
HDRS         := $(wildcard include/netprobe/*.h src/*/*.h cli/*.h daemon/*.h)

BENCH_BINS   := $(OUTPUT)/bench/np-bench
STATIC_LIB   := $(OUTPUT)/libnetprobe.a
SHARED_LIB   := $(OUTPUT)/libnetprobe.so.$(VERSION)
PC_FILE      := $(OUTPUT)/libnetprobe.pc

.PHONY: all deps run test test-kernel unit-tests bench fuzz torture soak faults lint install uninstall clean format-check FORCE
.DELETE_ON_ERROR:
.SECONDARY:

all: netprobe $(STATIC_LIB) $(SHARED_LIB) $(PC_FILE) $(OUTPUT)/netprobe.8

# The manual is made from the command's own tables: it says what --help says.
$(OUTPUT)/netprobe.8: netprobe
	./netprobe --man > $@

deps:
	@scripts/install-deps.sh

$(OUTPUT) $(OUTPUT)/lib $(OUTPUT)/cli $(OUTPUT)/daemon $(OUTPUT)/tests $(OUTPUT)/bench:
	@mkdir -p $@

$(OUTPUT)/%.bpf.o: bpf/%.bpf.c $(wildcard bpf/*.h) include/netprobe/abi.h | $(OUTPUT)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(OUTPUT)/%.skel.h: $(OUTPUT)/%.bpf.o
	$(BPFTOOL) gen skeleton $< name $(subst .bpf.o,,$(notdir $<))_bpf > $@

$(FLAGS_STAMP): FORCE | $(OUTPUT)
	@echo '$(CC) $(CFLAGS)' | cmp -s - $@ || echo '$(CC) $(CFLAGS)' >$@

$(OUTPUT)/lib/%.o: src/%.c $(HDRS) $(SKELS) $(FLAGS_STAMP) | $(OUTPUT)/lib
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Isrc -fvisibility=hidden -c $< -o $@

$(STATIC_LIB): $(LIB_OBJS)
	$(AR) rcs $@ $^

$(SHARED_LIB): $(LIB_OBJS)
	$(CC) -shared -Wl,-soname,libnetprobe.so.$(SOVERSION) -o $@ $^ $(LIBS)
	ln -sf libnetprobe.so.$(VERSION) $(OUTPUT)/libnetprobe.so.$(SOVERSION)
	ln -sf libnetprobe.so.$(SOVERSION) $(OUTPUT)/libnetprobe.so

$(PC_FILE): libnetprobe.pc.in | $(OUTPUT)
	sed -e 's|@PREFIX@|$(PREFIX)|; s|@LIBDIR@|$(LIBDIR)|; s|@INCLUDEDIR@|$(INCLUDEDIR)|; s|@VERSION@|$(VERSION)|' $< > $@

$(OUTPUT)/cli/%.o: cli/%.c $(HDRS) $(FLAGS_STAMP) | $(OUTPUT)/cli
	$(CC) $(CFLAGS) -c $< -o $@

$(OUTPUT)/daemon/%.o: daemon/%.c $(HDRS) $(FLAGS_STAMP) | $(OUTPUT)/daemon
	$(CC) $(CFLAGS) $(DAEMON_CFLAGS) -c $< -o $@

netprobe: $(CLI_OBJS) $(DAEMON_OBJS) $(STATIC_LIB)
	$(CC) $(CFLAGS) -o $@ $^ $(CLI_LIBS) $(DAEMON_LIBS)

# Tests: cmocka unit tests (BPF_PROG_RUN on crafted packets) and bats
# integration tests (namespaces, veth pairs, real traffic), all run by prove.
UNIT_SRCS    := $(wildcard tests/unit/test_*.c)
UNIT_BINS    := $(patsubst tests/unit/%.c,$(OUTPUT)/tests/%,$(UNIT_SRCS))

$(OUTPUT)/tests/%: tests/unit/%.c tests/unit/*.h $(STATIC_LIB) $(HDRS) $(FLAGS_STAMP) | $(OUTPUT)/tests
	$(CC) $(CFLAGS) -Isrc -Itests/unit -o $@ $< $(USES_$*) $(STATIC_LIB) $(LIBS) -lcmocka \
		$(WRAP_$*) $(USES_LIBS_$*)

# The daemon's tests link its layer.
DAEMON_UNITS := test_daemon_config test_daemon_log test_ipfix_conn test_privileges
$(patsubst %,$(OUTPUT)/tests/%,$(DAEMON_UNITS)): $(DAEMON_OBJS)
$(foreach t,$(DAEMON_UNITS),$(eval USES_$(t) := $(DAEMON_OBJS)))
$(foreach t,$(DAEMON_UNITS),$(eval USES_LIBS_$(t) := -ljson-c $(DAEMON_LIBS)))

# test_filter makes the library's map updates fail on purpose (a batch's undo),
# and kills itself at a chosen map write or fault point (a change left part way).
WRAP_test_filter := -Wl,--wrap=bpf_map_update_elem -Wl,--wrap=bpf_map_delete_elem \
	-Wl,--wrap=np_fault_point

# The event pipeline's and the filter's tests run under AddressSanitizer and UBSan, with a
# library built for them: threads, buffers and live config changes meet there.
ASAN_UNITS   := test_events test_filter
ASAN_LIB     := $(OUTPUT)/asan/libnetprobe.a
ASAN_OBJS    := $(patsubst src/%.c,$(OUTPUT)/asan/%.o,$(LIB_SRCS))

$(OUTPUT)/asan:
	@mkdir -p $@

$(OUTPUT)/asan/%.o: src/%.c $(HDRS) $(SKELS) | $(OUTPUT)/asan
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(SAN_FLAGS) -Isrc -fvisibility=hidden -c $< -o $@

$(ASAN_LIB): $(ASAN_OBJS)
	$(AR) rcs $@ $^

$(patsubst %,$(OUTPUT)/tests/%,$(ASAN_UNITS)): $(OUTPUT)/tests/%: tests/unit/%.c tests/unit/*.h \
		$(ASAN_LIB) $(HDRS) | $(OUTPUT)/tests
	$(CC) $(CFLAGS) $(SAN_FLAGS) -Isrc -Itests/unit -o $@ $< $(ASAN_LIB) $(LIBS) -lcmocka \
		$(WRAP_$*)


# Fuzzing with libFuzzer (clang): each tests/fuzz/fuzz_*.c is a target, one
# parser of outside input, linked against the library, the command and the
# daemon built for it (coverage, ASan, UBSan). make fuzz runs each target for
# FUZZ_TIME seconds (FUZZ_TARGETS="fuzz_cidr ...": those alone) and merges
# what it found into tests/fuzz/corpus/, which is committed; make test runs
# every target over its corpus.
FUZZ_CC      ?= clang
FUZZ_TIME    ?= 60
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS  := -O1 -g -std=gnu11 -Wall -Wextra -Werror -D_GNU_SOURCE -Iinclude -I$(OUTPUT) -Isrc \
		-DNETPROBE_VERSION='"$(VERSION)"' \
		$(DAEMON_CFLAGS) $(FUZZ_SAN) -fsanitize=fuzzer-no-link
FUZZ_SRCS    := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS    := $(patsubst tests/fuzz/%.c,$(OUTPUT)/fuzz/%,$(FUZZ_SRCS))
FUZZ_LIB     := $(OUTPUT)/fuzz/libeverything.a
FUZZ_TARGETS ?= $(notdir $(FUZZ_BINS))

# The command's main() is renamed: the targets have their own.
$(OUTPUT)/fuzz/obj/cli/main.o: FUZZ_EXTRA := -Dmain=netprobe_cli_main
$(OUTPUT)/fuzz/obj/%.o: %.c $(HDRS) $(SKELS)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_EXTRA) -c $< -o $@

$(FUZZ_LIB): $(patsubst %.c,$(OUTPUT)/fuzz/obj/%.o,$(LIB_SRCS) $(CLI_SRCS) $(DAEMON_SRCS))
	$(AR) rcs $@ $^

$(OUTPUT)/fuzz/%: tests/fuzz/%.c tests/fuzz/fuzz.h $(FUZZ_LIB) $(HDRS)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -Icli -Idaemon -o $@ $< $(FUZZ_LIB) \
		$(CLI_LIBS) $(DAEMON_LIBS)

fuzz: $(FUZZ_BINS)
	@tests/fuzz/run.sh $(FUZZ_TIME) $(FUZZ_TARGETS)

# Packet torture (tests/torture): random and mutated frames through every
# mode's programs with BPF_PROG_RUN, the counters checked and the parse
# compared with tshark's. make torture runs TORTURE_FRAMES a mode and writes
# docs/RELIABILITY.md's table; make test runs a short form (torture.bats).
TORTURE_FRAMES ?= 1000000
TORTURE_SEED   ?= 1
TORTURE_DIFF   ?= 100000
TORTURE_BIN    := $(OUTPUT)/tests/np-torture

$(TORTURE_BIN): tests/torture/np-torture.c tests/torture/gen.h $(STATIC_LIB) $(HDRS) \
		$(FLAGS_STAMP) | $(OUTPUT)/tests
	$(CC) $(CFLAGS) -Isrc -o $@ $< $(STATIC_LIB) $(LIBS)

torture: deps all $(TORTURE_BIN)
	@tests/torture/run.sh $(TORTURE_FRAMES) $(TORTURE_SEED) $(TORTURE_DIFF)

# The soak (tests/soak/soak.sh): the daemon in filter mode under np-bench's
# fastest traffic for DURATION seconds, with list churn, reloads and
# scrapes; counts checked exactly, RSS and open files each minute. make soak
# writes docs/RELIABILITY.md's table; make test runs a minute (soak.bats).
DURATION ?= 600

soak: deps all $(BENCH_BINS)
	@tests/soak/soak.sh $(DURATION) --doc

# Injected faults: make faults runs the test of each fault (tests/faults/run.sh
# lists them) and writes docs/RELIABILITY.md's table; make test runs them all.
faults: deps all unit-tests
	@tests/faults/run.sh

# The integration tests send frames with np-bench and use its baseline
# programs; make test runs the fuzz targets over their corpora.
unit-tests: $(UNIT_BINS) $(BENCH_BINS) $(FUZZ_BINS) $(TORTURE_BIN)

# make test also runs the unit suite on each of TEST_KERNELS under qemu
# (TEST_KERNELS= for this machine's kernel alone); make test-kernel KERNEL=6.1
# runs the unit suite and the integration tests tagged kernel on one
# (KERNEL_TESTS=kernel: the unit suite alone, as make test; all: every test
# there; KERNEL_DEBS="A.deb B.deb": that kernel's packages instead of Debian's).
TEST_KERNELS ?= 6.1
KERNEL       := 6.1
KERNEL_TESTS := full
KERNEL_DEBS  :=

test: SANITIZE ?= 1
test: deps all unit-tests
	@NETPROBE_TEST_KERNELS="$(TEST_KERNELS)" tests/run.sh

test-kernel: deps all unit-tests
	@NETPROBE_KERNEL_TESTS="$(KERNEL_TESTS)" NETPROBE_KERNEL_DEBS="$(KERNEL_DEBS)" \
		scripts/kernel-test.sh $(KERNEL)

# Baselines and the live-frames generator, for benchmarks and tests only.
$(OUTPUT)/baselines.bpf.o: bench/baselines.bpf.c $(wildcard bpf/*.h) include/netprobe/abi.h | $(OUTPUT)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(OUTPUT)/bench/np-bench: bench/np-bench.c tests/lib/pktbuild.h $(OUTPUT)/baselines.skel.h \
		$(DAEMON_OBJS) $(STATIC_LIB) $(HDRS) | $(OUTPUT)/bench
	$(CC) $(CFLAGS) -Isrc -o $@ $< $(DAEMON_OBJS) $(STATIC_LIB) $(LIBS) -ljson-c $(DAEMON_LIBS) -lpthread

bench: deps all $(BENCH_BINS)
	@bench/run.sh

run: deps all
	./netprobe demo

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR)/netprobe
	install -m 0755 netprobe $(DESTDIR)$(BINDIR)/netprobe
	install -m 0644 $(STATIC_LIB) $(DESTDIR)$(LIBDIR)/
	install -m 0755 $(SHARED_LIB) $(DESTDIR)$(LIBDIR)/
	ln -sf libnetprobe.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libnetprobe.so.$(SOVERSION)
	ln -sf libnetprobe.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/libnetprobe.so
	install -m 0644 include/netprobe/*.h $(DESTDIR)$(INCLUDEDIR)/netprobe/
	install -m 0644 $(PC_FILE) $(DESTDIR)$(LIBDIR)/pkgconfig/
	install -d $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(COMPLETIONDIR)
	install -m 0644 $(OUTPUT)/netprobe.8 $(DESTDIR)$(MANDIR)/man8/netprobe.8
	install -m 0644 scripts/netprobe.bash-completion $(DESTDIR)$(COMPLETIONDIR)/netprobe
	# The daemon's example config, unless the operator has one: never overwritten.
	install -d -m 0755 $(DESTDIR)$(SYSCONFDIR)/netprobe
	test -e $(DESTDIR)$(SYSCONFDIR)/netprobe/netprobe.yaml || \
		install -m 0644 deploy/netprobe.yaml $(DESTDIR)$(SYSCONFDIR)/netprobe/netprobe.yaml
	# The systemd unit, with the paths of this install written in.
	install -d $(DESTDIR)$(SYSTEMDUNITDIR)
	sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
		-e 's|@PKGLIBDIR@|$(PKGLIBDIR)|g' \
		deploy/systemd/netprobe.service >$(DESTDIR)$(SYSTEMDUNITDIR)/netprobe.service
	install -d $(DESTDIR)$(PKGLIBDIR)
	install -m 0755 deploy/systemd/netprobe-pin-dir $(DESTDIR)$(PKGLIBDIR)/netprobe-pin-dir
	chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/netprobe.service
	# Its user: made now when installing onto this machine (no DESTDIR).
	install -d $(DESTDIR)$(SYSUSERSDIR)
	install -m 0644 deploy/systemd/netprobe.sysusers $(DESTDIR)$(SYSUSERSDIR)/netprobe.conf
	if [ -z "$(DESTDIR)" ] && command -v systemd-sysusers >/dev/null; then \
		systemd-sysusers $(SYSUSERSDIR)/netprobe.conf; fi

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/netprobe $(DESTDIR)$(LIBDIR)/libnetprobe.* \
	      $(DESTDIR)$(LIBDIR)/pkgconfig/libnetprobe.pc $(DESTDIR)$(MANDIR)/man8/netprobe.8 \
	      $(DESTDIR)$(COMPLETIONDIR)/netprobe $(DESTDIR)$(SYSTEMDUNITDIR)/netprobe.service \
	      $(DESTDIR)$(SYSUSERSDIR)/netprobe.conf $(DESTDIR)$(PKGLIBDIR)/netprobe-pin-dir
	rm -rf $(DESTDIR)$(INCLUDEDIR)/netprobe

# clang-tidy with the checks .clang-tidy names, every warning an error.
LINT_FLAGS   := -std=gnu11 -D_GNU_SOURCE -Iinclude -I$(OUTPUT) -Isrc $(DAEMON_CFLAGS) \
		-DNETPROBE_VERSION='"$(VERSION)"'
lint: $(SKELS)
	clang-tidy --quiet $(LIB_SRCS) $(CLI_SRCS) $(DAEMON_SRCS) -- $(LINT_FLAGS)

format-check:
	clang-format --dry-run --Werror $(LIB_SRCS) $(CLI_SRCS) $(DAEMON_SRCS) $(HDRS) $(BPF_SRCS) bpf/*.h \
		bench/*.c tests/unit/*.[ch] tests/lib/*.h tests/fuzz/*.[ch] \
		tests/torture/*.[ch]

clean:
	rm -rf $(OUTPUT) netprobe
