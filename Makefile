# rrvm — reverse VM replication. `make help` lists the targets.
#
# Host code (the rrvm binary, unit tests) is built with the system compiler;
# guest images are built freestanding (no libc headers, no PIC) from guest/
# plus lwIP from Debian's source package, unpacked under build/.

BUILD ?= build
CC ?= gcc
V ?= 0
Q := $(if $(filter 1,$(V)),,@)

HOST_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror -Wshadow \
	-Wno-unused-parameter -D_GNU_SOURCE -Iinclude -I.
HOST_LDLIBS := -lpthread -llz4 -lnet -lsodium -lxxhash $(shell pkg-config --libs libpcap libxdp libbpf 2>/dev/null)

SANITIZE := -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=undefined

.PHONY: all deps test unit-test tsan-test tsan-pair-test fuzz-test figures-test integration-test demo bench figures clean help lwip

BPF_OBJS := $(patsubst backup/bpf/%.c,$(BUILD)/bpf/%.o,$(wildcard backup/bpf/*.bpf.c))

all: $(BUILD)/rrvm guest $(BUILD)/consistency-client $(BPF_OBJS)

help:
	@echo "make            build build/rrvm and the guest images (build/guest/*.elf)"
	@echo "make deps       install Debian packages and fetch lwIP's source (root)"
	@echo "make test       unit tests (cmocka, ASan/UBSan, then TSan) + fuzzing + integration tests (netns, KVM)"
	@echo "make demo       fail over a protected kv guest under load (MODE=reverse|reverse-mirror|buffered|naive), report"
	@echo "make bench      benchmarks (ratios against a same-run baseline)"
	@echo "make figures    every experiment scenario (--quick) and every paper figure (results/figures/)"
	@echo "make clean      remove $(BUILD)/"

deps:
	$(Q)./mk/deps.sh
	$(Q)./mk/lwip.sh $(BUILD)/lwip

# ---------------------------------------------------------------- host side
COMMON_SRCS := $(wildcard common/*.c)
VMM_SRCS := $(wildcard vmm/*.c)
CLI_SRCS := $(wildcard cli/*.c)
DAEMON_SRCS := $(wildcard primary/*.c backup/*.c migration/*.c arp/*.c netstate/*.c)
RRVM_SRCS := $(CLI_SRCS) $(VMM_SRCS) $(COMMON_SRCS) $(DAEMON_SRCS)
RRVM_OBJS := $(RRVM_SRCS:%.c=$(BUILD)/host/%.o)

$(BUILD)/host/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	$(Q)$(CC) $(HOST_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/rrvm: $(RRVM_OBJS)
	@echo "  LD      $@"
	$(Q)$(CC) $(HOST_CFLAGS) -o $@ $^ $(HOST_LDLIBS)

-include $(RRVM_OBJS:.o=.d)

# The backup's XDP capture programs, found beside build/rrvm at run time.
# -mcpu=v3: atomics that return a value, and bounds the verifier can follow.
$(BUILD)/bpf/%.bpf.o: backup/bpf/%.bpf.c backup/capture_shared.h backup/bpf/capture_filter.bpf.h
	@mkdir -p $(dir $@)
	@echo "  BPF     $<"
	$(Q)clang -O2 -g -Wall -Werror -mcpu=v3 -target bpf -I/usr/include/x86_64-linux-gnu -I. -c $< -o $@

# The scripted consistency client (experiments/consistency/README.md).
CONSISTENCY_SRCS := $(wildcard experiments/consistency/*.c)
$(BUILD)/consistency-client: $(CONSISTENCY_SRCS) $(wildcard experiments/consistency/*.h)
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	$(Q)$(CC) $(HOST_CFLAGS) -o $@ $(CONSISTENCY_SRCS)

# --------------------------------------------------------------- guest side
LWIP_DIR := $(BUILD)/lwip
GUEST_CC ?= gcc
GUEST_CFLAGS := -std=gnu11 -O2 -g -Wall -Wextra -Werror -Wno-unused-parameter \
	-ffreestanding -fno-pic -fno-pie -fno-stack-protector -fno-common \
	-mno-red-zone -mcmodel=small -fno-asynchronous-unwind-tables \
	-nostdinc -isystem $(shell $(GUEST_CC) -print-file-name=include) \
	-Iguest/runtime/include -Iguest/net -Iguest/services -Iinclude -I. \
	-I$(LWIP_DIR)/src/include -DRRVM_GUEST=1
# lwIP is not our code: build it without -Werror and with its own warnings.
LWIP_CFLAGS := $(filter-out -Werror -Wextra,$(GUEST_CFLAGS)) -Wno-address
GUEST_LDFLAGS := -nostdlib -static -no-pie -Wl,--build-id=none \
	-Wl,-T,guest/runtime/guest.ld -Wl,-z,noexecstack

LWIP_SRCS_REL := $(addprefix src/core/,init.c def.c inet_chksum.c ip.c \
	mem.c memp.c netif.c pbuf.c raw.c stats.c sys.c altcp.c altcp_alloc.c \
	tcp.c tcp_in.c tcp_out.c timeouts.c udp.c) \
	$(addprefix src/core/ipv4/,etharp.c icmp.c \
	ip4.c ip4_addr.c ip4_frag.c) src/netif/ethernet.c
LWIP_OBJS := $(LWIP_SRCS_REL:%.c=$(BUILD)/guest/lwip/%.o)

GUEST_RUNTIME_SRCS := $(wildcard guest/runtime/*.c guest/runtime/libc/*.c \
	guest/runtime/*.S guest/net/*.c guest/services/lib/*.c)
GUEST_RUNTIME_OBJS := $(patsubst %,$(BUILD)/guest/obj/%.o,$(GUEST_RUNTIME_SRCS))

# One image per service: the shared runtime + that service's directory.
GUEST_SERVICES := kv http echo
GUEST_IMAGES := $(GUEST_SERVICES:%=$(BUILD)/guest/%.elf)

guest: $(GUEST_IMAGES)

$(LWIP_DIR)/.unpacked:
	$(Q)./mk/lwip.sh $(LWIP_DIR)

# lwIP is configured by our headers: rebuild it when they change.
LWIP_CONFIG := guest/net/lwipopts.h guest/net/arch/cc.h guest/net/lwip_hooks.h
$(BUILD)/guest/lwip/%.o: $(LWIP_DIR)/.unpacked $(LWIP_CONFIG)
	@mkdir -p $(dir $@)
	@echo "  CC      lwip/$*.c"
	$(Q)$(GUEST_CC) $(LWIP_CFLAGS) -c $(LWIP_DIR)/$*.c -o $@

$(BUILD)/guest/obj/%.c.o: %.c $(LWIP_DIR)/.unpacked
	@mkdir -p $(dir $@)
	@echo "  GUESTCC $<"
	$(Q)$(GUEST_CC) $(GUEST_CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/guest/obj/%.S.o: %.S
	@mkdir -p $(dir $@)
	@echo "  GUESTAS $<"
	$(Q)$(GUEST_CC) $(GUEST_CFLAGS) -c $< -o $@

$(BUILD)/guest/liblwip.a: $(LWIP_OBJS)
	$(Q)rm -f $@ && ar rcs $@ $^

$(BUILD)/guest/libruntime.a: $(GUEST_RUNTIME_OBJS)
	$(Q)rm -f $@ && ar rcs $@ $^

define guest_image
$(1)_SRCS := $$(wildcard guest/services/$(1)/*.c)
$(1)_OBJS := $$(patsubst %,$(BUILD)/guest/obj/%.o,$$($(1)_SRCS))
$(BUILD)/guest/$(1).elf: $$($(1)_OBJS) $(BUILD)/guest/libruntime.a $(BUILD)/guest/liblwip.a guest/runtime/guest.ld
	@echo "  GUESTLD $$@"
	$(Q)$(GUEST_CC) $(GUEST_CFLAGS) $(GUEST_LDFLAGS) -o $$@ \
		-Wl,--whole-archive $(BUILD)/guest/libruntime.a -Wl,--no-whole-archive \
		$$($(1)_OBJS) $(BUILD)/guest/liblwip.a $(BUILD)/guest/libruntime.a -lgcc
GUEST_SERVICE_OBJS += $$($(1)_OBJS)
endef
$(foreach s,$(GUEST_SERVICES),$(eval $(call guest_image,$(s))))

-include $(GUEST_RUNTIME_OBJS:.o=.d) $(GUEST_SERVICE_OBJS:.o=.d)

# --------------------------------------------------------------- unit tests
# tests/unit/tests.mk lists each test and the sources it links (host-built,
# ASan/UBSan). Guest service code is host-compilable against the fake
# transport in tests/unit/fake_service.c.
include tests/unit/tests.mk
UNIT_TEST_BINS := $(UNIT_TESTS:%=$(BUILD)/tests/%)
TEST_CFLAGS := $(filter-out -O2,$(HOST_CFLAGS)) -O1 $(SANITIZE) -Iguest/services \
	-Iguest/net -DRRVM_UNIT_TEST=1

define unit_test
$(BUILD)/tests/$(1): tests/unit/$(1).c $$($(1)_SOURCES)
	@mkdir -p $$(dir $$@)
	@echo "  TEST-CC $$@"
	$(Q)$(CC) $(TEST_CFLAGS) -o $$@ $$^ -lcmocka $(HOST_LDLIBS)
endef
$(foreach t,$(UNIT_TESTS),$(eval $(call unit_test,$(t))))

unit-test: $(UNIT_TEST_BINS)
	$(Q)./tests/run-unit.sh $(UNIT_TEST_BINS)

# The same unit tests under ThreadSanitizer (build/tsan/): data races in the
# code they link (and lock-order problems) fail the run. TSAN_SKIP names
# the tests of single-threaded code (no threads, no atomics: nothing for
# TSan to see, and they are its slowest).
TSAN_SKIP ?= test_heap test_ckpt_codec test_replay_log
TSAN_TEST_BINS := $(filter-out $(TSAN_SKIP:%=$(BUILD)/tsan/%),$(UNIT_TESTS:%=$(BUILD)/tsan/%))
TSAN_CFLAGS := $(filter-out -O2,$(HOST_CFLAGS)) -O1 -fsanitize=thread -Wno-tsan \
	-fno-omit-frame-pointer -Iguest/services -Iguest/net -DRRVM_UNIT_TEST=1

define tsan_test
$(BUILD)/tsan/$(1): tests/unit/$(1).c $$($(1)_SOURCES)
	@mkdir -p $$(dir $$@)
	@echo "  TSAN-CC $$@"
	$(Q)$(CC) $(TSAN_CFLAGS) -o $$@ $$^ -lcmocka $(HOST_LDLIBS)
endef
$(foreach t,$(UNIT_TESTS),$(eval $(call tsan_test,$(t))))

tsan-test: $(TSAN_TEST_BINS)
	$(Q)TSAN_OPTIONS="$${TSAN_OPTIONS:-halt_on_error=1 second_deadlock_stack=1 suppressions=$(CURDIR)/tests/tsan.supp}" \
		./tests/run-unit.sh $(TSAN_TEST_BINS)

# rrvm itself under ThreadSanitizer (build/tsan/rrvm), and one replicated
# pair (buffered failover, one round) run with it: every report TSan writes
# (build/tsan/pair/race.PID) fails the target. Part of `make test`.
TSAN_RRVM_OBJS := $(RRVM_SRCS:%.c=$(BUILD)/tsan/obj/%.o)
$(BUILD)/tsan/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  TSAN-CC $<"
	$(Q)$(CC) $(TSAN_CFLAGS) -MMD -MP -c $< -o $@
$(BUILD)/tsan/rrvm: $(TSAN_RRVM_OBJS)
	@echo "  LD      $@"
	$(Q)$(CC) -fsanitize=thread -o $@ $^ $(HOST_LDLIBS)
-include $(TSAN_RRVM_OBJS:.o=.d)

tsan-pair-test: all $(BUILD)/tsan/rrvm
	$(Q)rm -rf $(BUILD)/tsan/pair && mkdir -p $(BUILD)/tsan/pair
	$(Q)RRVM=$(CURDIR)/$(BUILD)/tsan/rrvm RRVM_FAILOVER_ROUNDS=1 \
		TSAN_OPTIONS="log_path=$(CURDIR)/$(BUILD)/tsan/pair/race suppressions=$(CURDIR)/tests/tsan.supp" \
		./tests/integration/test_failover_buffered.sh
	$(Q)if ls $(BUILD)/tsan/pair/race.* >/dev/null 2>&1; then \
		grep -h '^SUMMARY' $(BUILD)/tsan/pair/race.* | sort | uniq -c; \
		echo "tsan-pair-test: data races (reports in $(BUILD)/tsan/pair/)" >&2; exit 1; fi

integration-test: all
	$(Q)./tests/run-integration.sh

# Short fuzz runs of the decoders that face the network (longer in bench):
# the replication stream (checkpoint codec + protocol messages), the secure
# channel (handshake, records), captured frames, the guests' RESP and HTTP
# parsers (with their services, host-built as in the unit tests).
FUZZ_SECONDS ?= 8
FUZZ_TARGETS := ckpt_decoder secure_channel frame_parse resp http vm_profile
fuzz-test:
	$(Q)for t in $(FUZZ_TARGETS); do ./tests/fuzz/run.sh $$t $(FUZZ_SECONDS) || exit 1; done

# Builds use every core (JOBS); the tests themselves run one at a time.
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
test: deps
	$(Q)$(MAKE) --no-print-directory -j$(JOBS) all
	$(Q)$(MAKE) --no-print-directory -j$(JOBS) unit-test
	$(Q)$(MAKE) --no-print-directory -j$(JOBS) tsan-test
	$(Q)$(MAKE) --no-print-directory -j$(JOBS) tsan-pair-test
	$(Q)$(MAKE) --no-print-directory fuzz-test
	$(Q)$(MAKE) --no-print-directory figures-test
	$(Q)$(MAKE) --no-print-directory integration-test

MODE ?= reverse
demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)MODE=$(MODE) ./experiments/demo.sh

$(BUILD)/bench/bench_ckpt_codec: tests/bench/bench_ckpt_codec.c vmm/ckpt_codec.c vmm/ckpt_page.c vmm/ckpt_crc.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(HOST_CFLAGS) -o $@ $^ -llz4 -lpthread

# Replication-link throughput, plain TCP against the secure channel.
$(BUILD)/bench/bench_secure_transport: tests/bench/bench_secure_transport.c \
		common/secure_transport.c common/secure_handshake.c \
		common/secure_record.c common/transport_tcp.c common/log.c
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(HOST_CFLAGS) -o $@ $^ -lsodium -lpthread

bench: deps
	$(Q)$(MAKE) --no-print-directory all $(BUILD)/bench/bench_ckpt_codec \
		$(BUILD)/bench/bench_secure_transport
	$(Q)./experiments/bench.sh
	$(Q)./experiments/bench-checkpoint.sh
	$(Q)./experiments/bench-replication.sh
	$(Q)./experiments/bench-detect.sh
	$(Q)./experiments/bench-reprotect.sh
	$(Q)./experiments/bench-migration.sh
	$(Q)./experiments/bench-link.sh
	$(Q)mkdir -p results/bench && $(BUILD)/bench/bench_ckpt_codec | tee results/bench/codec-latest.csv
	$(Q)$(BUILD)/bench/bench_secure_transport | tee results/bench/secure-transport-latest.csv
	$(Q)for t in $(FUZZ_TARGETS); do ./tests/fuzz/run.sh $$t 300 || exit 1; done

figures: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)./experiments/figures.sh

# The figure scripts on their committed samples, and their refusals.
figures-test:
	$(Q)bash tests/figures/run.sh

clean:
	rm -rf $(BUILD)
