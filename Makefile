# ovs-cats: compute-aware traffic steering for Open vSwitch.
#
#   make deps    install Debian packages, build libopenvswitch (once)
#   make         build everything
#   make test    deps + build + every test (unit, 20 s per fuzz target,
#                integration)
#   make demo    OVS userspace datapath + Mininet + controller, steering live
#   make fuzz    every fuzz target for FUZZ_TIME seconds (default 300)
#   make bench-southbound, bench-agent, bench-gw, bench-sim, bench-steer,
#        bench-sites
#
# Everything built goes to build/.  Nothing is installed system-wide except
# the Debian packages that 'make deps' names.

B := build
OVS_TARBALL ?= /usr/src/openvswitch/openvswitch.tar.gz
OVS_SRC := $(B)/ovs-src
OVS_BUILD := $(B)/ovs
LIBOVS := $(OVS_BUILD)/lib/.libs/libopenvswitch.a
OVS_STAMP := $(B)/.ovs-built

# Debian 12 packages.  'make deps' installs whichever are missing.
DEB_PKGS := build-essential pkg-config openvswitch-switch openvswitch-source \
	libssl-dev libunbound-dev libunwind-dev libcmocka-dev clang libclang-rt-14-dev \
	mininet python3 iproute2 iputils-ping ethtool procps psmisc \
	libgrpc-dev python3-grpcio python3-protobuf protobuf-compiler

CC ?= gcc
CFLAGS ?= -O2 -g
WARN := -Wall -Wextra -Wno-sign-compare -Wpointer-arith -Wformat-security \
	-Wstrict-prototypes -Wold-style-definition -Wmissing-prototypes \
	-Wshadow -Wno-missing-field-initializers
ifeq ($(CI),true)
WARN += -Werror
endif

OVS_INC := -I$(OVS_BUILD) -I$(OVS_SRC)/include -I$(OVS_BUILD)/include \
	-I$(OVS_SRC)/lib -I$(OVS_BUILD)/lib -I$(OVS_SRC)
CATS_INC := -Iinclude -Icontroller
ALL_CFLAGS := $(CFLAGS) $(WARN) -std=gnu11 $(OVS_INC) $(CATS_INC)
OVS_LIBS := $(LIBOVS) -latomic -lm -lunbound -lunwind -lssl -lcrypto -lpthread

# gRPC core C API (Debian's libgrpc-dev 1.51), for the agent API server in
# the controller, cats-agent and the agent load generator.  Evaluated when
# used, so that pkg-config runs after 'make deps' installed it.
GRPC_CFLAGS = $(shell pkg-config --cflags grpc 2>/dev/null)
GRPC_LIBS = $(shell pkg-config --libs grpc gpr 2>/dev/null)

# libcats: the pure modules (no I/O).  The daemon, the tests and the tools
# link the very same objects.
LIBCATS_SRCS := $(wildcard controller/lib/*.c)
LIBCATS_OBJS := $(patsubst %.c,$(B)/%.o,$(LIBCATS_SRCS))
LIBCATS := $(B)/libcats.a

CONTROLLER_SRCS := $(filter-out controller/lib/%,$(wildcard controller/*.c))
CONTROLLER_OBJS := $(patsubst %.c,$(B)/%.o,$(CONTROLLER_SRCS))
CONTROLLER := $(B)/cats-controller

UNIT_SRCS := $(wildcard tests/unit/test-*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(B)/tests/%,$(UNIT_SRCS))

# Fuzz targets (libFuzzer, clang): one per decoder of outside input.
FUZZ_BINS := $(B)/fuzz/fuzz-config $(B)/fuzz/fuzz-openflow

# Components with rules of their own append to UNIT_BINS, FUZZ_BINS,
# EXTRA_TARGETS and DEB_PKGS here.
EXTRA_TARGETS :=
.DEFAULT_GOAL := all
include $(sort $(wildcard */rules.mk */*/rules.mk))

.PHONY: all deps ovs test unit-test integration-test demo bench-southbound \
	fuzz clean distclean

all: $(CONTROLLER) $(UNIT_BINS) $(FUZZ_BINS) $(EXTRA_TARGETS)

deps: $(OVS_STAMP)

# Installing packages is idempotent and silent when nothing is missing.
$(B)/.deps-installed: Makefile
	@mkdir -p $(B)
	@missing=""; for p in $(DEB_PKGS); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null \
	        | grep -q '^install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	    echo "deps: installing$$missing"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get update -qq && apt-get install -y -qq $$missing >/dev/null \
	        || { echo "deps: apt-get install failed" >&2; exit 1; }; \
	fi
	@touch $@

# libopenvswitch from Debian's openvswitch-source: same version as the
# installed openvswitch-switch.  Debian ships no libopenvswitch-dev.
# AF_XDP is disabled: configure enables it whenever libxdp-dev is present
# (dpdk-dev pulls it in), and our links would then need -lxdp -lbpf
# -lnuma; we never use the afxdp netdev.
# Order-only on the packages: editing the Makefile re-checks them but does
# not rebuild libopenvswitch.
$(OVS_STAMP): | $(B)/.deps-installed
	@echo "deps: building libopenvswitch from $(OVS_TARBALL)"
	@rm -rf $(OVS_SRC) $(OVS_BUILD) && mkdir -p $(OVS_SRC) $(OVS_BUILD)
	@tar -xzf $(OVS_TARBALL) -C $(OVS_SRC) --strip-components=1
	@cd $(OVS_BUILD) && ../ovs-src/configure --quiet --enable-silent-rules \
	    --disable-libcapng --disable-afxdp PYTHON3=/usr/bin/python3 \
	    > configure.log 2>&1 \
	    || { cat configure.log; exit 1; }
	@printf 'print-built-sources:\n\t@echo $$(BUILT_SOURCES)\n' \
	    > $(OVS_BUILD)/print.mk
	@cd $(OVS_BUILD) && $(MAKE) -s -j$$(nproc) \
	    $$($(MAKE) -s -f Makefile -f print.mk print-built-sources) \
	    > built-sources.log 2>&1 || { tail -20 built-sources.log; exit 1; }
	@cd $(OVS_BUILD) && $(MAKE) -s -j$$(nproc) lib/libopenvswitch.la \
	    > lib.log 2>&1 || { tail -20 lib.log; exit 1; }
	@touch $@

$(B)/%.o: %.c $(OVS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(LIBCATS): $(LIBCATS_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(CONTROLLER): $(CONTROLLER_OBJS) $(LIBCATS)
	$(CC) $(CFLAGS) -o $@ $(CONTROLLER_OBJS) $(LIBCATS) $(OVS_LIBS) \
	    $(GRPC_LIBS)

# The agent API server speaks gRPC.
$(B)/controller/grpc-server.o $(B)/controller/agents.o: \
	ALL_CFLAGS += $(GRPC_CFLAGS)

# Error paths of the config reader: libc calls wrapped (-Wl,--wrap).
LDFLAGS_test-config-wrap := -Wl,--wrap=fopen -Wl,--wrap=fread \
	-Wl,--wrap=ferror

# The daemon's I/O modules, for the tests that drive them directly.
EXTRA_OBJS_test-ofctrl := $(B)/controller/ofctrl.o $(B)/controller/statctrl.o \
	$(B)/controller/pinctrl.o
LDFLAGS_test-ofctrl := -Wl,--wrap=rconn_send -Wl,--wrap=rconn_send_with_limit
EXTRA_OBJS_test-steer := $(B)/controller/steer.o

.SECONDEXPANSION:
$(B)/tests/%: $(B)/tests/unit/%.o $$(EXTRA_OBJS_$$*) $(LIBCATS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(EXTRA_OBJS_$*) $(LIBCATS) $(OVS_LIBS) \
	    -lcmocka $(LDFLAGS_$*)

.SECONDARY: $(patsubst %,$(B)/tests/unit/%.o,$(notdir $(UNIT_BINS)))

# Fuzz targets.  The decoders' sources are compiled into each target with
# coverage and sanitizers; libopenvswitch is linked as built.
FUZZ_CC := clang
FUZZ_CFLAGS := -g -O1 -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=undefined -std=gnu11 $(OVS_INC) $(CATS_INC)
FUZZ_TIME ?= 300

$(B)/fuzz/fuzz-config: tests/fuzz/fuzz-config.c controller/lib/config.c \
		controller/lib/catalog.c $(OVS_STAMP)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ tests/fuzz/fuzz-config.c \
	    controller/lib/config.c controller/lib/catalog.c $(OVS_LIBS)

FUZZ_OPENFLOW_SRCS := controller/ofctrl.c controller/statctrl.c \
	controller/pinctrl.c controller/lib/catalog.c \
	controller/lib/flow-model.c controller/lib/flow-table.c

$(B)/fuzz/fuzz-openflow: tests/fuzz/fuzz-openflow.c $(FUZZ_OPENFLOW_SRCS) \
		$(OVS_STAMP)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ tests/fuzz/fuzz-openflow.c \
	    $(FUZZ_OPENFLOW_SRCS) $(OVS_LIBS)

fuzz: deps $(FUZZ_BINS)
	@tests/fuzz/run.sh $(B) $(FUZZ_TIME)

test: deps all
	@tests/run-tests.sh $(B)

unit-test: deps all
	@tests/run-tests.sh --unit-only $(B)

integration-test: deps all
	@tests/run-tests.sh --integration-only $(B)

demo: deps all
	@/usr/bin/python3 topologies/demo.py --controller $(CONTROLLER)

bench-southbound: deps all
	@/usr/bin/python3 tests/bench/southbound.py --build-dir $(B)

clean:
	rm -rf $(B)/controller $(B)/tests $(B)/fuzz $(B)/libcats.a $(CONTROLLER)

distclean:
	rm -rf $(B)

-include $(shell find $(B)/controller $(B)/tests -name '*.d' 2>/dev/null)
