# topologies/tools/: cats-serve and cats-load, the workload tools of the
# Mininet topologies (included by the top-level Makefile).
#
# Plain C linked with libc, libm and pthread only, not libopenvswitch: they
# run on any host, inside any namespace, with nothing else built.

# Read before the top-level 'all' rule: without this, the first rule below
# would become the default goal of a bare 'make'.
.DEFAULT_GOAL := all

WL_DIR := topologies/tools
WL_LIB_SRCS := $(WL_DIR)/workload.c $(WL_DIR)/wl-io.c
WL_LIB_OBJS := $(patsubst %.c,$(B)/%.o,$(WL_LIB_SRCS))
WL_CFLAGS := -O2 -g $(WARN) -std=gnu11 -D_GNU_SOURCE

CATS_SERVE := $(B)/cats-serve
CATS_LOAD := $(B)/cats-load
EXTRA_TARGETS += $(CATS_SERVE) $(CATS_LOAD)

# More specific than the top-level $(B)/%.o, which would want
# libopenvswitch's headers built first.
$(B)/$(WL_DIR)/%.o: $(WL_DIR)/%.c
	@mkdir -p $(dir $@)
	$(CC) $(WL_CFLAGS) -MMD -MP -c $< -o $@

$(CATS_SERVE): $(B)/$(WL_DIR)/cats-serve.o $(WL_LIB_OBJS)
	$(CC) $(WL_CFLAGS) -o $@ $^ -lm -lpthread

$(CATS_LOAD): $(B)/$(WL_DIR)/cats-load.o $(WL_LIB_OBJS)
	$(CC) $(WL_CFLAGS) -o $@ $^ -lm

# Unit tests of the pure parts: the generic $(B)/tests/% rule links them
# with libcats, libopenvswitch and cmocka, plus this object.
EXTRA_OBJS_test-workload := $(B)/$(WL_DIR)/workload.o
$(B)/tests/unit/test-workload.o: ALL_CFLAGS += -I$(WL_DIR)

# Fuzz target of the request, reply and control line parsers, built from
# the source with coverage and sanitizers.
FUZZ_BINS += $(B)/fuzz/fuzz-workload
$(B)/fuzz/fuzz-workload: tests/fuzz/fuzz-workload.c $(WL_DIR)/workload.c \
		$(WL_DIR)/workload.h
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -g -O1 -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=undefined -std=gnu11 -D_GNU_SOURCE \
	    -I$(WL_DIR) -o $@ tests/fuzz/fuzz-workload.c $(WL_DIR)/workload.c \
	    -lm

.PHONY: clean-tools
clean: clean-tools
clean-tools:
	rm -rf $(B)/$(WL_DIR) $(CATS_SERVE) $(CATS_LOAD)

-include $(wildcard $(B)/$(WL_DIR)/*.d)
