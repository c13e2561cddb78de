# proto/: the agent API (cats.proto) and the C code that protoc-c generates
# from it at build time, into $(B)/gen/proto/.  Included by the top-level
# Makefile after UNIT_BINS and FUZZ_BINS are set and before 'all'.
#
# The generated code is compiled into libcats, next to its one user,
# controller/lib/report.c (decode + validate); nothing else includes the
# generated header.

# Read before the top-level 'all' rule: without this, the first rule below
# would become the default goal of a bare 'make'.
.DEFAULT_GOAL := all

DEB_PKGS += protobuf-c-compiler libprotobuf-c-dev

PROTO_GEN := $(B)/gen
PROTO_SRC := proto/cats.proto
PROTO_C := $(PROTO_GEN)/proto/cats.pb-c.c
PROTO_H := $(PROTO_GEN)/proto/cats.pb-c.h
PROTO_OBJ := $(PROTO_GEN)/proto/cats.pb-c.o

LIBCATS_OBJS += $(PROTO_OBJ)
ALL_CFLAGS += -I$(PROTO_GEN)
# Every link (daemon, unit tests, fuzz targets) uses OVS_LIBS after libcats.
OVS_LIBS += -lprotobuf-c

# A machine that installed the earlier package list must get these too.
$(B)/.deps-installed: proto/rules.mk

# protoc-c writes both files in one run (a grouped target, GNU make 4.3).
$(PROTO_C) $(PROTO_H) &: $(PROTO_SRC) | $(B)/.deps-installed
	@mkdir -p $(PROTO_GEN)
	protoc-c --proto_path=. --c_out=$(PROTO_GEN) $(PROTO_SRC)

# Generated code is not ours to fix: its own flags, warnings shown but never
# fatal, whatever CI=true adds to WARN.  (protobuf-c 1.4.1's output is clean
# under WARN today.)
PROTO_CFLAGS = $(CFLAGS) -std=gnu11 -I$(PROTO_GEN) -Wall
$(PROTO_OBJ): $(PROTO_C) $(PROTO_H)
	$(CC) $(PROTO_CFLAGS) -c $< -o $@

# Objects that include the generated header.  Ours depend on it; every
# other object waits for it (order-only), so that a module that starts to
# include it builds in a clean tree before -MMD has recorded anything.
PROTO_USERS := $(B)/controller/lib/report.o $(B)/tests/unit/test-report.o
$(PROTO_USERS): $(PROTO_H)
$(LIBCATS_OBJS) $(CONTROLLER_OBJS) \
    $(patsubst %,$(B)/tests/unit/%.o,$(notdir $(UNIT_BINS))): | $(PROTO_H)

# Fuzz target: decode + validate + the metrics store, on arbitrary bytes.
# As for fuzz-config, the sources under test are compiled in (coverage,
# sanitizers); libprotobuf-c is linked as Debian built it.
FUZZ_BINS += $(B)/fuzz/fuzz-report

$(B)/fuzz/fuzz-report: tests/fuzz/fuzz-report.c controller/lib/report.c \
		controller/lib/metrics.c controller/lib/catalog.c $(PROTO_C) \
		$(PROTO_H) $(OVS_STAMP)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -I$(PROTO_GEN) -o $@ \
	    tests/fuzz/fuzz-report.c controller/lib/report.c \
	    controller/lib/metrics.c controller/lib/catalog.c $(PROTO_C) \
	    $(OVS_LIBS)

# Python messages for the interop tests and tools (Debian's protoc and
# python3-protobuf): build/gen/py/proto/cats_pb2.py.
PROTO_PY := $(PROTO_GEN)/py/proto/cats_pb2.py
EXTRA_TARGETS += $(PROTO_PY)

$(PROTO_PY): $(PROTO_SRC) | $(B)/.deps-installed
	@mkdir -p $(PROTO_GEN)/py
	protoc --proto_path=. --python_out=$(PROTO_GEN)/py $(PROTO_SRC)

.PHONY: clean-proto
clean: clean-proto
clean-proto:
	rm -rf $(PROTO_GEN)
