# cats-gw, the DPDK long-haul gateway: build rules (included by the
# top-level Makefile).
#
# libcatsgw: the gateway's pure modules (report cadence, ECN marking law,
# PFC state machine, 802.1Qbb frames, counters, port configuration,
# configuration statements, class queues and delay line, token bucket;
# header-only: classification, sequence counter).  Plain C with no DPDK and no libopenvswitch calls, so
# that the DPDK application, the unit tests and the fuzz target link the
# very same code.  dataplane/README.md describes the gateway.

# This file is read before the top-level 'all' rule: without this, the first
# rule below would become the default goal of a bare 'make'.
.DEFAULT_GOAL := all

LIBCATSGW_SRCS := dataplane/gw-cadence.c dataplane/gw-conf.c \
	dataplane/gw-config.c dataplane/gw-ecn.c dataplane/gw-pfc.c \
	dataplane/gw-qbb.c dataplane/gw-queue.c dataplane/gw-stats.c \
	dataplane/gw-tbf.c
LIBCATSGW_HDRS := $(LIBCATSGW_SRCS:.c=.h)
LIBCATSGW_OBJS := $(patsubst %.c,$(B)/%.o,$(LIBCATSGW_SRCS))
LIBCATSGW := $(B)/libcatsgw.a

EXTRA_TARGETS += $(LIBCATSGW)

$(LIBCATSGW): $(LIBCATSGW_OBJS)
	@rm -f $@
	ar rcs $@ $^

# Unit tests tests/unit/test-gw-*.c: the generic $(B)/tests/% rule links
# them with libcatsgw; they include the headers as "gw-*.h".
GW_UNIT_TESTS := $(patsubst tests/unit/%.c,%,\
	$(wildcard tests/unit/test-gw-*.c))
$(foreach t,$(GW_UNIT_TESTS),$(eval EXTRA_OBJS_$(t) := $(LIBCATSGW)))
$(B)/tests/unit/test-gw-%.o: ALL_CFLAGS += -Idataplane

# Fuzz target for the PFC frame parser and the receive path behind it; the
# library's sources are compiled into it with coverage and sanitizers.
FUZZ_BINS += $(B)/fuzz/fuzz-gw-qbb
$(B)/fuzz/fuzz-gw-qbb: tests/fuzz/fuzz-gw-qbb.c $(LIBCATSGW_SRCS) \
		$(LIBCATSGW_HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Idataplane -o $@ tests/fuzz/fuzz-gw-qbb.c \
	    $(LIBCATSGW_SRCS)

# cats-gw, the DPDK application.  DPDK and gRPC flags are evaluated when
# used, so that pkg-config runs after 'make deps' installed them.  This file
# is read before proto/rules.mk: the generated protobuf-c files are named by
# their paths.  The application's objects are compiled without
# libopenvswitch's include paths (the gateway does not link it).
DEB_PKGS += dpdk dpdk-dev libdpdk-dev
$(B)/.deps-installed: dataplane/rules.mk

DPDK_CFLAGS = $(shell pkg-config --cflags libdpdk 2>/dev/null)
DPDK_LIBS = $(shell pkg-config --libs libdpdk 2>/dev/null)

CATS_GW := $(B)/cats-gw
CATS_GW_SRCS := dataplane/cats-gw.c dataplane/gw-fwd.c dataplane/gw-push.c \
	dataplane/gw-tel.c
CATS_GW_OBJS := $(patsubst %.c,$(B)/%.o,$(CATS_GW_SRCS))
GW_PROTO_H := $(B)/gen/proto/cats.pb-c.h
GW_PROTO_OBJ := $(B)/gen/proto/cats.pb-c.o

EXTRA_TARGETS += $(CATS_GW)

GW_APP_CFLAGS = $(CFLAGS) $(WARN) -std=gnu11 -Idataplane -Iinclude \
	$(DPDK_CFLAGS)

$(CATS_GW_OBJS): $(B)/%.o: %.c | $(GW_PROTO_H) $(B)/.deps-installed
	@mkdir -p $(dir $@)
	$(CC) $(GW_APP_CFLAGS) -MMD -MP -c $< -o $@

# The push streams with libcatsclient (controller/client/rules.mk, read
# before this file).
$(CATS_GW): $(CATS_GW_OBJS) $(LIBCATSGW) $(LIBCATSCLIENT) $(GW_PROTO_OBJ)
	$(CC) $(CFLAGS) -o $@ $(CATS_GW_OBJS) $(LIBCATSGW) $(LIBCATSCLIENT) \
	    $(GW_PROTO_OBJ) $(DPDK_LIBS) $(GRPC_LIBS) -lprotobuf-c -lpthread

# make bench-gw: dpdk-testpmd against cats-gw, same ports, same time.
.PHONY: bench-gw
bench-gw: deps $(CATS_GW)
	@/usr/bin/python3 dataplane/bench-gw.py --gw $(CATS_GW)

.PHONY: clean-gw
clean: clean-gw
clean-gw:
	rm -rf $(B)/dataplane $(LIBCATSGW) $(CATS_GW)

-include $(wildcard $(B)/dataplane/*.d)

# Fuzz target for the configuration parser (statements and --config files
# are outside input): gw-conf and the port configuration behind it.
FUZZ_BINS += $(B)/fuzz/fuzz-gw-conf
$(B)/fuzz/fuzz-gw-conf: tests/fuzz/fuzz-gw-conf.c $(LIBCATSGW_SRCS) \
		$(LIBCATSGW_HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -Idataplane -o $@ tests/fuzz/fuzz-gw-conf.c \
	    $(LIBCATSGW_SRCS)

# tests/integration/test_ovs_dpdk.py: the DPDK build of ovs-vswitchd.  Its
# postinst registers it as an ovs-vswitchd alternative of priority 50,
# below openvswitch-switch's 100: the machine's vswitchd stays the normal
# one.
DEB_PKGS += openvswitch-switch-dpdk
