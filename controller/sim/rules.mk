# controller/sim/: cats-sim, the discrete-event simulator that compares the
# selector (libcats) with baseline steering policies, and 'make bench-sim'.
# Included by the top-level Makefile.
#
# The engine (sim.c) is also linked into tests/unit/test-sim.c, the quick
# determinism and sanity check that 'make test' runs.

# Read before the top-level 'all' rule: without this, the first rule below
# would become the default goal of a bare 'make'.
.DEFAULT_GOAL := all

# gnuplot draws the p99-vs-load plot of 'make bench-sim'.
DEB_PKGS += gnuplot-nox
$(B)/.deps-installed: controller/sim/rules.mk

CATS_SIM := $(B)/cats-sim
CATS_SIM_ENGINE := $(B)/controller/sim/sim.o
CATS_SIM_OBJS := $(B)/controller/sim/cats-sim.o $(CATS_SIM_ENGINE)

EXTRA_TARGETS += $(CATS_SIM)

$(CATS_SIM): $(CATS_SIM_OBJS) $(LIBCATS)
	$(CC) $(CFLAGS) -o $@ $(CATS_SIM_OBJS) $(LIBCATS) $(OVS_LIBS)

EXTRA_OBJS_test-sim := $(CATS_SIM_ENGINE)
$(B)/tests/unit/test-sim.o: ALL_CFLAGS += -Icontroller/sim

# The comparison at loads 0.5 to 0.95 (the plot), the selector's timing at
# 100,000 instances, and one summary line, last.
.PHONY: bench-sim
bench-sim: deps $(CATS_SIM)
	@mkdir -p $(B)/sim
	@$(CATS_SIM) --bench --plot=$(B)/sim/p99-vs-load.png

-include $(wildcard $(B)/controller/sim/*.d)
