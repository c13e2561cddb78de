# cats-gw, the DPDK long-haul gateway: build rules (included by the
# top-level Makefile).
#
# libcatsgw: the gateway's pure modules (ECN marking law, PFC state machine,
# 802.1Qbb frames, counters, configuration).  Plain C with no DPDK and no
# libopenvswitch calls, so that the DPDK application, the unit tests and the
# fuzz target link the very same code.

# This file is read before the top-level 'all' rule: without this, the first
# rule below would become the default goal of a bare 'make'.
.DEFAULT_GOAL := all

LIBCATSGW_SRCS := dataplane/gw-conf.c dataplane/gw-config.c dataplane/gw-ecn.c \
	dataplane/gw-pfc.c dataplane/gw-qbb.c dataplane/gw-queue.c \
	dataplane/gw-stats.c dataplane/gw-tbf.c
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

.PHONY: clean-gw
clean: clean-gw
clean-gw:
	rm -rf $(B)/dataplane $(LIBCATSGW)

-include $(wildcard $(B)/dataplane/*.d)
