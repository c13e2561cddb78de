# controller/nma/: the network metric agent's readers (C-NMA): link, qdisc,
# DCB PFC and ethtool pause counters over netlink (libnl-3), host ECN and
# RoCE CNP counters, and their telemetry report (include/cats/nlstats.h).
# Included by the top-level Makefile.
#
# libcatsnma: the parsers and the state (no I/O) next to the netlink I/O
# that feeds them (cats_nma_poll()); cats-nma, the CLI that prints what
# they read; cats-agent, which streams it (controller/agent/); the unit
# tests and the fuzz target link or compile the very same sources.
# Nothing here uses controller/agent/.

# Read before the top-level 'all' rule: without this, the first rule below
# would become the default goal of a bare 'make'.
.DEFAULT_GOAL := all

DEB_PKGS += libnl-3-dev libnl-route-3-dev libnl-genl-3-dev

# A machine that installed the earlier package list must get these too.
$(B)/.deps-installed: controller/nma/rules.mk

# Evaluated when used, so that pkg-config runs after 'make deps'.
NL_PKGS := libnl-3.0 libnl-route-3.0 libnl-genl-3.0
NL_CFLAGS = $(shell pkg-config --cflags $(NL_PKGS) 2>/dev/null)
NL_LIBS = $(shell pkg-config --libs $(NL_PKGS) 2>/dev/null)

# The parsers (nlstats.c, hoststats.c) and the state (nma.c) do no netlink
# I/O; nlsock.c does, with libnl.
LIBCATSNMA_PURE_SRCS := controller/nma/nlstats.c controller/nma/hoststats.c \
	controller/nma/nma.c
LIBCATSNMA_SRCS := $(LIBCATSNMA_PURE_SRCS) controller/nma/nlsock.c
LIBCATSNMA_OBJS := $(patsubst %.c,$(B)/%.o,$(LIBCATSNMA_SRCS))
LIBCATSNMA := $(B)/libcatsnma.a
CATS_NMA := $(B)/cats-nma
CATS_NMA_OBJ := $(B)/controller/nma/cats-nma.o

EXTRA_TARGETS += $(LIBCATSNMA) $(CATS_NMA)

$(LIBCATSNMA_OBJS) $(CATS_NMA_OBJ): ALL_CFLAGS += $(NL_CFLAGS)

$(LIBCATSNMA): $(LIBCATSNMA_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(CATS_NMA): $(CATS_NMA_OBJ) $(LIBCATSNMA) $(LIBCATS)
	$(CC) $(CFLAGS) -o $@ $(CATS_NMA_OBJ) $(LIBCATSNMA) $(LIBCATS) \
	    $(OVS_LIBS) $(NL_LIBS)

# Unit tests: messages are built with libnl (nlmsg_alloc, nla_put).
EXTRA_OBJS_test-nlstats := $(LIBCATSNMA)
LDFLAGS_test-nlstats = $(NL_LIBS)
$(B)/tests/unit/test-nlstats.o: ALL_CFLAGS += $(NL_CFLAGS)

# Fuzz target: the netlink and text parsers and the state behind them, on
# arbitrary bytes.  As for fuzz-config, the sources under test are compiled
# in with coverage and sanitizers; nlsock.c (socket I/O) is not.
FUZZ_BINS += $(B)/fuzz/fuzz-nlstats

$(B)/fuzz/fuzz-nlstats: tests/fuzz/fuzz-nlstats.c $(LIBCATSNMA_PURE_SRCS) \
		include/cats/nlstats.h $(OVS_STAMP)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ tests/fuzz/fuzz-nlstats.c \
	    $(LIBCATSNMA_PURE_SRCS) $(OVS_LIBS)

.PHONY: clean-nma
clean: clean-nma
clean-nma:
	rm -rf $(B)/controller/nma $(LIBCATSNMA) $(CATS_NMA)
