# controller/client/: libcatsclient, the gRPC client of the agent API for
# everything that streams to cats-controller (cats-agent, cats-gw).
# Included by the top-level Makefile, before proto/rules.mk: the generated
# header is named by its path.
#
# Plain C, pthreads, gRPC core and protobuf-c: compiled without
# libopenvswitch's include paths, so that cats-gw, which does not link
# libopenvswitch, links it too.  Its users link $(LIBCATSCLIENT) followed
# by $(GRPC_LIBS) -lprotobuf-c -lpthread.

.DEFAULT_GOAL := all

LIBCATSCLIENT_SRCS := controller/client/client.c controller/client/codec.c
LIBCATSCLIENT_OBJS := $(patsubst %.c,$(B)/%.o,$(LIBCATSCLIENT_SRCS))
LIBCATSCLIENT := $(B)/libcatsclient.a
CLIENT_PROTO_H := $(B)/gen/proto/cats.pb-c.h

EXTRA_TARGETS += $(LIBCATSCLIENT)

$(LIBCATSCLIENT_OBJS): $(B)/%.o: %.c $(CLIENT_PROTO_H) | $(B)/.deps-installed
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(WARN) -std=gnu11 -Iinclude -I$(B)/gen \
	    $(GRPC_CFLAGS) -MMD -MP -c $< -o $@

$(LIBCATSCLIENT): $(LIBCATSCLIENT_OBJS)
	@rm -f $@
	ar rcs $@ $^

# Unit test: the codec, against protobuf-c's generated code (in libcats).
$(B)/tests/unit/test-client-codec.o: $(CLIENT_PROTO_H)
EXTRA_OBJS_test-client-codec := $(LIBCATSCLIENT)
LDFLAGS_test-client-codec = $(GRPC_LIBS) -lprotobuf-c -lpthread

.PHONY: clean-client
clean: clean-client
clean-client:
	rm -rf $(B)/controller/client $(LIBCATSCLIENT)

-include $(wildcard $(B)/controller/client/*.d)

# Fuzz target: cats_client_decode_ack() on arbitrary bytes, each message
# kind.  codec.c and the generated code are compiled in (coverage,
# sanitizers), as for the library without libopenvswitch's include paths
# (its string.h would rename strnlen()); libprotobuf-c is linked as Debian
# built it.
FUZZ_BINS += $(B)/fuzz/fuzz-client

$(B)/fuzz/fuzz-client: tests/fuzz/fuzz-client.c controller/client/codec.c \
		controller/client/client-util.h include/cats/client.h \
		include/cats/wire.h $(CLIENT_PROTO_H)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(filter-out $(OVS_INC) $(CATS_INC),$(FUZZ_CFLAGS)) \
	    -Iinclude -I$(B)/gen -o $@ tests/fuzz/fuzz-client.c \
	    controller/client/codec.c $(B)/gen/proto/cats.pb-c.c -lprotobuf-c
