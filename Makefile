# swapd — drone battery-swap station controller.
#
# Layout rule: every directory under protocols/, sim/ and controller/ that holds a
# main.c is a program named after the directory; every other .c file is library code
# and goes into its layer's static archive: libprotocols.a, libsim.a, libcontroller.a.
# A program links its own layer's archive and protocols (LIBS_<program>, PKGS_<program>
# below say otherwise where it uses less or more); tests link everything.
# `make layers` (part of `all`) fails on an include running upwards or across (a
# controller or protocols file including sim/, protocols including controller/) and on
# modules (a file and its suffixed siblings) that call each other in a circle.
# Tests: tests/unit/test_*.c and tests/integration/test_*.c (Check), each its own binary.
# Benchmarks: tests/bench/bench_*.c. Fuzz targets: tests/fuzz/fuzz_*.c (libFuzzer).

BUILD   ?= build
CC      ?= cc
PREFIX  ?= /usr/local
DESTDIR ?=
SYSCONFDIR ?= /etc

PKGS      := libmodbus libserialport sqlite3 inih jansson nettle ncursesw libsystemd libmicrohttpd \
             libmosquitto libprotobuf-c
TEST_PKGS := check
DEB_PKGS  := build-essential pkg-config clang libclang-rt-14-dev libmodbus-dev \
             libserialport-dev libsqlite3-dev libinih-dev libjansson-dev nettle-dev \
             libncurses-dev libsystemd-dev libmicrohttpd-dev check mbpoll socat tmux sqlite3 jq git \
             prometheus chromium libmosquitto-dev mosquitto libprotobuf-c-dev protobuf-c-compiler

OPT       ?= -O2
SAN       ?=
CPPFLAGS  += -D_GNU_SOURCE -Iprotocols -Isim -Icontroller -Itests/support
CFLAGS    += -std=c11 $(OPT) -g -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
             -Wmissing-prototypes -Wvla -fno-common $(SAN) -MMD -MP \
             $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
SYSLIBS   := -lm -lpthread -lutil
LDLIBS    += $(shell pkg-config --libs $(PKGS) 2>/dev/null) $(SYSLIBS)
TEST_LDLIBS := $(shell pkg-config --libs $(TEST_PKGS) 2>/dev/null)
LDFLAGS   += $(SAN)

SRC_DIRS  := protocols sim controller
ALL_C     := $(shell find $(SRC_DIRS) -name '*.c' | sort)
MAIN_C    := $(filter %/main.c,$(ALL_C))
PROG_DIRS := $(patsubst %/,%,$(dir $(MAIN_C)))
PROG_SRCS  = $(filter $(1)/%,$(ALL_C))
LIB_C     := $(filter-out $(foreach d,$(PROG_DIRS),$(d)/%),$(ALL_C))
LIB_O     := $(LIB_C:%.c=$(BUILD)/obj/%.o)
PROGRAMS  := $(foreach d,$(PROG_DIRS),$(BUILD)/bin/$(notdir $(d)))
# The daemon shell's code but its main, for the campaign, which runs it in its loop.
SWAPD_LIB_C := $(filter-out controller/swapd/main.c,$(call PROG_SRCS,controller/swapd))
SWAPD_LIB := $(BUILD)/libswapd.a

# ---- layers and link lines --------------------------------------------------------
# One archive per layer, upper layers first on a link line.
LAYERS     := controller sim protocols
LAYER_LIB   = $(BUILD)/lib$(1).a
ALL_LIBS   := $(foreach l,$(LAYERS),$(call LAYER_LIB,$(l)))
# The packages each layer's library code calls.
PKGS_protocols  := inih jansson libserialport nettle libprotobuf-c
PKGS_sim        := jansson
PKGS_controller := libmodbus sqlite3 jansson libmicrohttpd libmosquitto
# What a program links unless it says otherwise: its layer (and what that layer uses).
LIBS_LAYER_protocols  := protocols
LIBS_LAYER_sim        := sim protocols
LIBS_LAYER_controller := controller protocols
# Programs that link less or more than their layer's default.
PKGS_mavdump    := jansson nettle
PKGS_regmap-doc := inih
PKGS_packlog    := inih
PKGS_dronesim   := jansson libserialport nettle inih
PKGS_swapsim    := libmodbus jansson inih
PKGS_swapctl    := jansson ncursesw nettle sqlite3 inih
PKGS_swaphealth := jansson inih
PKGS_swapd      := $(PKGS_protocols) $(PKGS_controller) libsystemd
PKGS_swapfleet  := jansson libprotobuf-c libmosquitto sqlite3 ncursesw inih
prog_libs   = $(or $(LIBS_$(1)),$(LIBS_LAYER_$(2)))
prog_pkgs   = $(if $(filter undefined,$(origin PKGS_$(1))),$(sort $(foreach l,$(call prog_libs,$(1),$(2)),$(PKGS_$(l)))),$(PKGS_$(1)))
pkg_ldlibs  = $(if $(strip $(1)),$(shell pkg-config --libs $(1) 2>/dev/null))

UNIT_C    := $(sort $(wildcard tests/unit/test_*.c))
INTEG_C   := $(sort $(wildcard tests/integration/test_*.c))
BENCH_C   := $(sort $(wildcard tests/bench/bench_*.c))
FUZZ_C    := $(sort $(wildcard tests/fuzz/fuzz_*.c))
TESTSUP_C := $(sort $(wildcard tests/support/*.c))
TESTSUP_O := $(TESTSUP_C:%.c=$(BUILD)/obj/%.o)
UNIT_BIN  := $(UNIT_C:tests/unit/%.c=$(BUILD)/tests/%)
INTEG_BIN := $(INTEG_C:tests/integration/%.c=$(BUILD)/tests/%)
BENCH_BIN := $(BENCH_C:tests/bench/%.c=$(BUILD)/bench/%)

.PHONY: all deps check run-tests asan bench fuzz faults campaign demo install clean \
        node-deps spb-proto layers link-lines link-matrix sparkplug-peer
.DEFAULT_GOAL := all
.SECONDARY:

all: $(PROGRAMS) layers

# The layering rules (tests/tools/layers.sh): no include upwards or across, no include
# cycle, no two modules calling each other round a circle; the checker checks itself first.
PROG_O := $(foreach d,$(PROG_DIRS),$(patsubst %.c,$(BUILD)/obj/%.o,$(call PROG_SRCS,$(d))))
layers: $(LIB_O) $(PROG_O)
	@tests/tools/layers.sh --self-test
	@tests/tools/layers.sh $(LIB_O) $(PROG_O)
	@$(MAKE) -s --no-print-directory link-lines | diff -u - <(sed -n '/^<!-- link-lines -->/,/^<!-- \/link-lines -->/p' \
	  README.md | grep -v -e '^<!--' -e '^```') > /dev/null || { echo "layers: README's link lines differ from \
	  make link-lines:"; $(MAKE) -s --no-print-directory link-lines | diff -u - <(sed -n \
	  '/^<!-- link-lines -->/,/^<!-- \/link-lines -->/p' README.md | grep -v -e '^<!--' -e '^```'); exit 1; }
	@sed -n 's/^| `\(controller\/[^`]*\.c\)` | \([0-9]*\) |.*/\1 \2/p' README.md | while read -r f n; do \
	  [ -f $$f ] || { echo "layers: README's architecture section names $$f, not in the tree"; exit 1; }; \
	  [ "$$(wc -l < $$f)" = "$$n" ] || { echo "layers: README's architecture section gives $$f $$n lines; it has $$(wc -l < $$f)"; exit 1; }; done

# ---- dependencies -----------------------------------------------------------------
# Installs the Debian packages that are missing (sudo when not root), then the npm
# test peer.  A no-op when everything is present.
deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; \
	done; \
	command -v node > /dev/null && command -v npm > /dev/null || missing="$$missing nodejs npm"; \
	if [ -n "$$missing" ]; then \
	  sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	  echo "deps: installing$$missing"; \
	  $$sudo apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	@$(MAKE) --no-print-directory node-deps

node-deps:
	@if [ -f tests/node/package.json ] && { [ ! -d tests/node/node_modules ] || \
	    [ tests/node/package-lock.json -nt tests/node/node_modules/.package-lock.json ]; }; then \
	  echo "deps: npm install (tests/node)"; \
	  PUPPETEER_SKIP_DOWNLOAD=1 npm install --prefix tests/node --no-audit --no-fund --silent; \
	fi

# ---- build ------------------------------------------------------------------------
$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

define LAYER_RULE
$(call LAYER_LIB,$(1)): $(patsubst %.c,$(BUILD)/obj/%.o,$(filter $(1)/%,$(LIB_C)))
	@mkdir -p $$(@D)
	rm -f $$@ && ar rcs $$@ $$^
endef
$(foreach l,$(LAYERS),$(eval $(call LAYER_RULE,$(l))))

$(SWAPD_LIB): $(SWAPD_LIB_C:%.c=$(BUILD)/obj/%.o)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

# $(1): the program's directory; its layer is the top directory.
define PROGRAM_RULE
$(BUILD)/bin/$(notdir $(1)): $(patsubst %.c,$(BUILD)/obj/%.o,$(call PROG_SRCS,$(1))) \
    $(foreach l,$(call prog_libs,$(notdir $(1)),$(firstword $(subst /, ,$(1)))),$(call LAYER_LIB,$(l)))
	@mkdir -p $$(@D)
	$$(CC) $$(LDFLAGS) -o $$@ $$(filter %.o,$$^) $$(filter %.a,$$^) \
	  $(call pkg_ldlibs,$(call prog_pkgs,$(notdir $(1)),$(firstword $(subst /, ,$(1))))) $(SYSLIBS)
endef
$(foreach d,$(PROG_DIRS),$(eval $(call PROGRAM_RULE,$(d))))

# Each program's link line, one per line: program, archives, packages (README's
# architecture section shows this output; `make layers` compares the two).
link_line = $(notdir $(1)): $(patsubst %,lib%.a,$(call prog_libs,$(notdir $(1)),$(firstword $(subst /, ,$(1))))) + $(or $(sort $(call prog_pkgs,$(notdir $(1)),$(firstword $(subst /, ,$(1))))),-)
link-lines:
	@$(foreach d,$(sort $(PROG_DIRS)),echo "$(call link_line,$(d))";)

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(TESTSUP_O) $(SWAPD_LIB) $(ALL_LIBS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $< $(TEST_EXTRA_O) $(TESTSUP_O) $(SWAPD_LIB) $(ALL_LIBS) $(TEST_LDLIBS) $(LDLIBS)

# The daemon's persistence worker is tested on its own, with storage failures injected
# by wrapping the registry's move and SQLite's step (a failing COMMIT) at link time.
$(BUILD)/tests/test_persist: TEST_EXTRA_O = $(BUILD)/obj/controller/swapd/persist.o
$(BUILD)/tests/test_persist: LDFLAGS += -Wl,--wrap=registry_move_battery -Wl,--wrap=sqlite3_step
$(BUILD)/tests/test_persist: $(BUILD)/obj/controller/swapd/persist.o

$(BUILD)/tests/%: $(BUILD)/obj/tests/integration/%.o $(TESTSUP_O) $(SWAPD_LIB) $(ALL_LIBS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $< $(TESTSUP_O) $(SWAPD_LIB) $(ALL_LIBS) $(TEST_LDLIBS) $(LDLIBS)

$(BUILD)/bench/%: $(BUILD)/obj/tests/bench/%.o $(TESTSUP_O) $(SWAPD_LIB) $(ALL_LIBS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $< $(TESTSUP_O) $(SWAPD_LIB) $(ALL_LIBS) $(LDLIBS)

# The Sparkplug B payload code is generated from protocols/sparkplug/sparkplug_b.proto
# and committed, so a build needs no protoc-c; test_spb checks the committed files match.
spb-proto:
	cd protocols/sparkplug && protoc-c --c_out=. sparkplug_b.proto

# ---- tests ------------------------------------------------------------------------
# Every test binary runs; the last line sums Check's per-binary results.
# Integration tests find the programs through SWAP_BIN and the configs through SWAP_CONFIGS.
export SWAP_BIN = $(abspath $(BUILD)/bin)
export SWAP_CONFIGS = $(abspath configs)
export SWAP_SRC = $(abspath .)

check: deps
	@$(MAKE) --no-print-directory -j2 run-tests

# The test programs run CHECK_JOBS at a time (tests/run-tests.sh), the longest first so
# that the two lanes end together; each one's log is under $(BUILD)/check/.
CHECK_JOBS ?= 2
CHECK_FIRST := conformance faults fleet sparkplug_host dronefair e2e http statuspage years
CHECK_ORDER = $(foreach t,$(CHECK_FIRST),$(filter %/test_$(t),$(INTEG_BIN))) \
              $(filter-out $(foreach t,$(CHECK_FIRST),%/test_$(t)),$(INTEG_BIN)) $(UNIT_BIN)

run-tests: $(PROGRAMS) layers $(UNIT_BIN) $(INTEG_BIN)
	@JOBS=$(CHECK_JOBS) LOGDIR=$(BUILD)/check tests/run-tests.sh $(CHECK_ORDER)

SHELL := /bin/bash

asan: deps
	@$(MAKE) --no-print-directory BUILD=build/asan CC=clang OPT=-O1 \
	  SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	  run-tests

bench: $(PROGRAMS) $(BENCH_BIN)
	@for b in $(BENCH_BIN); do echo "== $$b"; $$b || exit 1; done

# swapd against swapsim behind the default and the foreign plant map, over Modbus TCP
# and RTU (socat pty pairs): minutes of wall time, so not in make check.
link-matrix: $(PROGRAMS) $(BUILD)/tests/test_plantmap_link
	SWAP_LINK_MATRIX=1 SWAP_BIN=$(abspath $(BUILD)/bin) SWAP_CONFIGS=$(abspath configs) SWAP_SRC=$(CURDIR) \
	  $(BUILD)/tests/test_plantmap_link

# The fault matrix on real processes at every step of the swap chain, both fault kinds
# (make check runs a subset); SWAP_FAULTS=step,step,... picks steps.
faults: $(PROGRAMS) $(BUILD)/tests/test_faults
	SWAP_FAULTS=$${SWAP_FAULTS:-all} $(BUILD)/tests/test_faults

# Every scenario of the Sparkplug host peer written from docs/fleet.md and the
# specification (make check runs the quick ones): the broker outage and the spool bound.
sparkplug-peer: deps $(PROGRAMS) $(BUILD)/tests/test_sparkplug_host
	SPARKPLUG_PEER=all $(BUILD)/tests/test_sparkplug_host

FUZZ_SECONDS ?= 60
FUZZ_BUILD := build/fuzz
FUZZ_SAN := -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
fuzz:
	@$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=clang OPT=-O1 SAN="$(FUZZ_SAN)" \
	  $(foreach l,$(LAYERS),$(FUZZ_BUILD)/lib$(l).a)
	@mkdir -p $(FUZZ_BUILD)/fuzzers
	@for f in $(FUZZ_C); do \
	  n=$$(basename $$f .c); \
	  clang $(CPPFLAGS) -std=c11 -g -O1 -fsanitize=fuzzer,address,undefined $$f \
	    $(foreach l,$(LAYERS),$(FUZZ_BUILD)/lib$(l).a) $(LDLIBS) -o $(FUZZ_BUILD)/fuzzers/$$n || exit 1; \
	  mkdir -p $(FUZZ_BUILD)/corpus/$$n; \
	  echo "== $$n for $(FUZZ_SECONDS) s"; \
	  $(FUZZ_BUILD)/fuzzers/$$n -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    $(FUZZ_BUILD)/corpus/$$n tests/fuzz/corpus/$$n || exit 1; \
	done

demo: deps
	@$(MAKE) --no-print-directory all
	@BIN=$(abspath $(BUILD)/bin) sim/demo/demo.sh

BINDIR  = $(PREFIX)/bin
UNITDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
DOCDIR  = $(PREFIX)/share/doc/swapd
WWWDIR  = $(PREFIX)/share/swapd/www
INSTALL_PROGS := swapd swapctl swapsim dronesim mavdump swaphealth packlog
install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SYSCONFDIR)/swapd $(DESTDIR)$(UNITDIR) $(DESTDIR)$(DOCDIR) \
	  $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(WWWDIR)
	for p in $(INSTALL_PROGS); do \
	  install -m 0755 $(BUILD)/bin/$$p $(DESTDIR)$(BINDIR)/ || exit 1; \
	done
	for f in configs/*.ini; do \
	  t=$(DESTDIR)$(SYSCONFDIR)/swapd/$$(basename $$f); \
	  [ -e $$t ] || install -m 0644 $$f $$t; \
	done
	install -d $(DESTDIR)$(SYSCONFDIR)/swapd/plantmap
	for f in configs/plantmap/*.ini; do \
	  t=$(DESTDIR)$(SYSCONFDIR)/swapd/plantmap/$$(basename $$f); \
	  [ -e $$t ] || install -m 0644 $$f $$t; \
	done
	sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' -e 's|@DOCDIR@|$(DOCDIR)|g' \
	  configs/systemd/swapd.service > $(DESTDIR)$(UNITDIR)/swapd.service
	install -m 0644 configs/systemd/swapd.sysusers $(DESTDIR)$(SYSUSERSDIR)/swapd.conf
	install -m 0644 README.md $(DESTDIR)$(DOCDIR)/
	install -m 0644 controller/httpd/www/index.html controller/httpd/www/style.css \
	  controller/httpd/www/app.js $(DESTDIR)$(WWWDIR)/
	[ -d docs ] && cp -r docs/. $(DESTDIR)$(DOCDIR)/ || true

clean:
	rm -rf build

-include $(LIB_O:.o=.d) $(TESTSUP_O:.o=.d)
-include $(foreach d,$(PROG_DIRS),$(patsubst %.c,$(BUILD)/obj/%.d,$(call PROG_SRCS,$(d))))
-include $(wildcard $(BUILD)/obj/tests/*/*.d)
-include $(wildcard */module.mk */*/module.mk)

# ---- the invariant campaign on demand -------------------------------------------------
# make campaign SEED=1 COUNT=10000: seeded worlds of random swaps with faults, every safety
# rule checked after every scan (docs/campaign.md). The engine lives in tests/support, the
# program in tests/campaign (a test driver, not part of the controller); both run swapd's
# own shell code (libswapd.a) on a real registry file, and the simulator in process.
SEED  ?= 1
COUNT ?= 10000
$(BUILD)/bin/campaign: $(BUILD)/obj/tests/campaign/main.o $(BUILD)/obj/tests/support/campaign.o \
    $(BUILD)/obj/tests/support/faultvfs.o $(BUILD)/obj/tests/support/plantio_sim.o $(SWAPD_LIB) $(ALL_LIBS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $(filter %.o,$^) $(SWAPD_LIB) $(ALL_LIBS) $(LDLIBS)
all: $(BUILD)/bin/campaign
campaign: $(BUILD)/bin/campaign
	$(BUILD)/bin/campaign --seed $(SEED) --count $(COUNT) --keep-going --quiet
