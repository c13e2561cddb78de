# Fuzz targets of libcats modules that need no rule elsewhere (included by
# the top-level Makefile).  As for fuzz-config there, the sources under test
# are compiled into the target with coverage and sanitizers, and
# libopenvswitch is linked as built.  tests/fuzz/run.sh finds each target's
# seeds in tests/fuzz/corpus/NAME/ and its dictionary in tests/fuzz/NAME.dict.

# Read before the top-level 'all' rule: without this, the first rule below
# would become the default goal of a bare 'make'.
.DEFAULT_GOAL := all

# The agent access list parser (include/cats/acl.h).  acl.c only uses
# cats/report.h's types, so report.c and protobuf-c are not compiled in.
FUZZ_BINS += $(B)/fuzz/fuzz-acl

$(B)/fuzz/fuzz-acl: tests/fuzz/fuzz-acl.c controller/lib/acl.c \
		include/cats/acl.h $(OVS_STAMP)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ tests/fuzz/fuzz-acl.c \
	    controller/lib/acl.c $(OVS_LIBS)

# fuzz-openflow (its rule is in the top-level Makefile) sees what the ofctrl
# sends, as test-ofctrl does: rconn_send() wrapped.
$(B)/fuzz/fuzz-openflow: private FUZZ_CFLAGS += -Wl,--wrap=rconn_send \
	-Wl,--wrap=rconn_send_with_limit
