# cats-agent, the compute node daemon: build rules (included by the
# top-level Makefile, before proto/rules.mk, so that names defined there
# such as PROTO_H are not set yet when this file is read: the generated
# header is named by its path below).
#
#   controller/agent/cats-agent.c    start-up, main loop, ovs-appctl
#   controller/agent/agent-client.c  its client: libcatsclient
#                                    (controller/client/) with the
#                                    agent's messages, VLOG and news
#   controller/agent/sources.c       /proc, NVML, app lines, Prometheus
#   controller/agent/telemetry.c     telemetry reports (libcatsnma, host
#                                    counters)
#   controller/agent/tel-reader.c    the telemetry reader thread
#
# sources.c has no gRPC in it: the unit test and the fuzz target link it
# with libcats and libopenvswitch only.  Nor has telemetry.c: its unit
# test links it with libcatsnma, libnl and libcatsclient's encoder.
# libcatsnma's and libcatsclient's variables are set by their rules.mk,
# read after this file: paths are spelled out below, and NL_LIBS is
# expanded when the recipe runs.

.DEFAULT_GOAL := all

AGENT_SRCS := controller/agent/cats-agent.c controller/agent/agent-client.c \
	controller/agent/sources.c controller/agent/telemetry.c \
	controller/agent/tel-reader.c
AGENT_OBJS := $(patsubst %.c,$(B)/%.o,$(AGENT_SRCS))
AGENT := $(B)/cats-agent
AGENT_PROTO_H := $(B)/gen/proto/cats.pb-c.h

EXTRA_TARGETS += $(AGENT)

$(B)/controller/agent/%.o: ALL_CFLAGS += $(GRPC_CFLAGS)

# agent-client.c encodes the agent's messages with protobuf-c.
$(B)/controller/agent/agent-client.o: $(AGENT_PROTO_H)
# The others only wait for it, as every object does (see proto/rules.mk).
$(B)/controller/agent/cats-agent.o $(B)/controller/agent/sources.o \
	$(B)/controller/agent/telemetry.o $(B)/controller/agent/tel-reader.o: \
	| $(AGENT_PROTO_H)

# libdl: NVML is loaded at run time (glibc 2.34+ has dlopen in libc; the
# flag is harmless there and needed before).
$(AGENT): $(AGENT_OBJS) $(B)/libcatsnma.a $(B)/libcatsclient.a $(LIBCATS)
	$(CC) $(CFLAGS) -o $@ $(AGENT_OBJS) $(B)/libcatsnma.a \
	    $(B)/libcatsclient.a $(LIBCATS) $(OVS_LIBS) $(GRPC_LIBS) \
	    $(NL_LIBS) -ldl

# Unit test: the parsers in sources.o.  -rdynamic exports the test's own
# fake NVML functions, which cats_agent_gpu_open(NULL) finds through
# dlopen(NULL).
EXTRA_OBJS_test-agent-sources := $(B)/controller/agent/sources.o
LDFLAGS_test-agent-sources := -rdynamic -ldl

# Unit test: the telemetry report (host entries, epochs, encoding).
EXTRA_OBJS_test-agent-telemetry := $(B)/controller/agent/telemetry.o \
	$(B)/libcatsnma.a $(B)/libcatsclient.a
LDFLAGS_test-agent-telemetry = $(NL_LIBS)

# Fuzz target: the app line and Prometheus parsers (and the /proc and HTTP
# parsers on the same input), with sources.c compiled in for coverage and
# sanitizers; libcats (cats_parse_ip_port, metric ranges) linked as built.
FUZZ_BINS += $(B)/fuzz/fuzz-agent-sources

$(B)/fuzz/fuzz-agent-sources: tests/fuzz/fuzz-agent-sources.c \
		controller/agent/sources.c include/cats/agent-sources.h \
		$(LIBCATS) $(OVS_STAMP)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ tests/fuzz/fuzz-agent-sources.c \
	    controller/agent/sources.c $(LIBCATS) $(OVS_LIBS) -ldl

.PHONY: clean-agent
clean: clean-agent
clean-agent:
	rm -rf $(B)/controller/agent $(AGENT)
