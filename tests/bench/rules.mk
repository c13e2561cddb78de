# tests/bench/: agent-load, the load generator for the cats.v1.Agent gRPC
# API, and 'make bench-agent', which runs it against a private controller
# (tests/bench/agent.py).  Included by the top-level Makefile, after
# proto/rules.mk (PROTO_H, PROTO_OBJ, PROTO_GEN).
#
# agent-load needs neither libopenvswitch nor libcats: gRPC core, the
# generated protobuf-c code, libcatsclient's codec and libc.

# Read before the top-level 'all' rule: without this, the first rule below
# would become the default goal of a bare 'make'.
.DEFAULT_GOAL := all

AGENT_LOAD := $(B)/tests/bench/agent-load
AGENT_LOAD_OBJ := $(B)/tests/bench/agent-load.o

GRPC_FLOOR := $(B)/tests/bench/grpc-floor
GRPC_FLOOR_OBJ := $(B)/tests/bench/grpc-floor.o

# agent-h2load: the same workload as agent-load, speaking gRPC over HTTP/2
# itself (no libgrpc), the reports of all streams of a connection that are
# due at one tick in one write().
AGENT_H2LOAD := $(B)/tests/bench/agent-h2load
AGENT_H2LOAD_OBJ := $(B)/tests/bench/agent-h2load.o

# What the two generators share: time, histogram, options, messages.
LOAD_COMMON_OBJ := $(B)/tests/bench/load-common.o

EXTRA_TARGETS += $(AGENT_LOAD) $(GRPC_FLOOR) $(AGENT_H2LOAD)

# Explicit rules: they take precedence over the generic $(B)/%.o and
# $(B)/tests/% patterns (which would want libopenvswitch and cmocka).
$(LOAD_COMMON_OBJ): tests/bench/load-common.c $(PROTO_H) \
		| $(B)/.deps-installed
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WARN) -std=gnu11 -I$(PROTO_GEN) -MMD -MP -c $< -o $@

$(AGENT_LOAD_OBJ): tests/bench/agent-load.c $(PROTO_H) \
		| $(B)/.deps-installed
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WARN) -std=gnu11 -Iinclude -I$(PROTO_GEN) \
	    $(GRPC_CFLAGS) -MMD -MP -c $< -o $@

# The ack decoder and the status names are libcatsclient's.
$(AGENT_LOAD): $(AGENT_LOAD_OBJ) $(LOAD_COMMON_OBJ) $(LIBCATSCLIENT) \
		$(PROTO_OBJ)
	$(CC) $(CFLAGS) -o $@ $(AGENT_LOAD_OBJ) $(LOAD_COMMON_OBJ) \
	    $(LIBCATSCLIENT) $(PROTO_OBJ) $(GRPC_LIBS) \
	    -lprotobuf-c -lpthread -lm

# grpc-floor: the least a gRPC core server does per report (a floor for
# bench-agent: BENCH_SERVER='build/tests/bench/grpc-floor {port}').
$(GRPC_FLOOR_OBJ): tests/bench/grpc-floor.c $(PROTO_H) \
		| $(B)/.deps-installed
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WARN) -std=gnu11 -I$(PROTO_GEN) $(GRPC_CFLAGS) \
	    -MMD -MP -c $< -o $@

$(GRPC_FLOOR): $(GRPC_FLOOR_OBJ) $(PROTO_OBJ)
	$(CC) $(CFLAGS) -o $@ $(GRPC_FLOOR_OBJ) $(PROTO_OBJ) $(GRPC_LIBS) \
	    -lprotobuf-c

$(AGENT_H2LOAD_OBJ): tests/bench/agent-h2load.c $(PROTO_H) \
		| $(B)/.deps-installed
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WARN) -std=gnu11 -I$(PROTO_GEN) -MMD -MP -c $< -o $@

$(AGENT_H2LOAD): $(AGENT_H2LOAD_OBJ) $(LOAD_COMMON_OBJ) $(PROTO_OBJ)
	$(CC) $(CFLAGS) -o $@ $(AGENT_H2LOAD_OBJ) $(LOAD_COMMON_OBJ) \
	    $(PROTO_OBJ) -lprotobuf-c -lm

# Shape: BENCH_STREAMS, BENCH_CONNECTIONS, BENCH_RATE, BENCH_DURATION,
# BENCH_WARMUP, BENCH_THREADS (see tests/bench/README.md).
.PHONY: bench-agent
bench-agent: $(CONTROLLER) $(AGENT_LOAD) $(GRPC_FLOOR) $(AGENT_H2LOAD)
	@/usr/bin/python3 tests/bench/agent.py --build-dir $(B)

# ---- bench-steer (issue 6, part 2): tests/bench/steer.py -----------------
# Four ways of steering new connections to instances of unequal speed, one
# run: ovs-cats, an OVN load balancer, HAProxy leastconn, an OVS select
# group.  Shape: STEER_DURATION, STEER_WARMUP, STEER_LOADS, STEER_WAYS,
# STEER_ROUNDS, ... (tests/bench/README.md).  Writes build/bench/steer.png.
DEB_PKGS += ovn-central ovn-host haproxy gnuplot-nox

# The package list grows here: have 'make deps' look again when it does
# (the top-level stamp otherwise only follows the Makefile).
$(B)/.deps-installed: tests/bench/rules.mk

.PHONY: bench-steer
# By path: topologies/tools/rules.mk, which names them, is read after this
# file.
bench-steer: deps $(CONTROLLER) $(B)/cats-agent $(B)/cats-serve $(B)/cats-load
	@/usr/bin/python3 tests/bench/steer.py --build-dir $(B)
# ---- end of bench-steer ---------------------------------------------------

# ---- bench-sites: tests/bench/sites.py ------------------------------------
# Two sites, two cats-gw paths, instances of unequal speed at both; the same
# open-loop arrivals for four ways of choosing (instance, path): joint
# (ovs-cats), compute_only (paths by ECMP), nearest, static_path; a flood
# of the better path in the middle; a pause storm after the joint run.
# Shape: SITES_DURATION, SITES_EPISODE, SITES_LOAD, SITES_WAYS, ...
# (tests/bench/README.md).  Writes build/bench/sites.png.
.PHONY: bench-sites
bench-sites: deps $(CONTROLLER) $(B)/cats-agent $(B)/cats-serve \
		$(B)/cats-load $(B)/cats-gw
	@/usr/bin/python3 tests/bench/sites.py --build-dir $(B)
# ---- end of bench-sites ---------------------------------------------------
