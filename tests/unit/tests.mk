# Unit tests: name them in UNIT_TESTS and list the sources each links
# (tests/unit/NAME.c is added automatically). Host-built with ASan/UBSan.
UNIT_TESTS :=

UNIT_TESTS += test_vnic_ring
test_vnic_ring_SOURCES :=

UNIT_TESTS += test_libc
test_libc_SOURCES := guest/runtime/libc/string.c guest/runtime/libc/format.c \
	guest/runtime/libc/stdlib.c guest/runtime/libc/stdio.c
UNIT_TESTS += test_heap
test_heap_SOURCES := guest/runtime/libc/heap.c

UNIT_TESTS += test_http
test_http_SOURCES := guest/services/http/http_parser.c \
	guest/services/http/http_service.c guest/services/http/http_store.c \
	guest/services/lib/option_parse.c tests/unit/fake_service.c

UNIT_TESTS += test_echo
test_echo_SOURCES := guest/services/echo/echo_service.c \
	guest/services/lib/option_parse.c tests/unit/fake_service.c

UNIT_TESTS += test_dirtier
test_dirtier_SOURCES := guest/services/lib/dirtier.c \
	guest/services/lib/crash.c guest/services/lib/common_options.c \
	guest/services/lib/option_parse.c tests/unit/fake_service.c

UNIT_TESTS += test_elf_loader
test_elf_loader_SOURCES := vmm/elf_loader.c

UNIT_TESTS += test_boot_info
test_boot_info_SOURCES := vmm/boot_info.c

UNIT_TESTS += test_cli_parse
test_cli_parse_SOURCES := cli/cli_parse.c common/number.c

UNIT_TESTS += test_resp
test_resp_SOURCES := guest/services/kv/resp.c guest/services/kv/resp_reply.c
UNIT_TESTS += test_kv
test_kv_SOURCES := guest/services/kv/resp.c guest/services/kv/resp_reply.c \
	guest/services/kv/kv_store.c guest/services/kv/kv_commands.c \
	guest/services/kv/kv_keys.c guest/services/kv/kv_strings.c \
	guest/services/kv/kv_lists.c guest/services/kv/kv_service.c \
	guest/services/lib/option_parse.c tests/unit/fake_service.c

# Needs /dev/kvm and build/guest/echo.elf (skips otherwise).
UNIT_TESTS += test_dirty_tracking
test_dirty_tracking_SOURCES := $(filter-out vmm/vm_control.c,$(wildcard vmm/*.c)) common/log.c \
	common/report.c

# Checkpoint codec; links liblz4 (-llz4).
UNIT_TESTS += test_ckpt_codec
test_ckpt_codec_SOURCES := vmm/ckpt_codec.c vmm/ckpt_page.c vmm/ckpt_crc.c

# The consistency client's checker and RESP reply parser (experiments/consistency).
UNIT_TESTS += test_consistency_checker
test_consistency_checker_SOURCES := experiments/consistency/checker.c \
	experiments/consistency/resp_reply.c
# The paced load's schedule and connection choice.
UNIT_TESTS += test_consistency_pace
test_consistency_pace_SOURCES := experiments/consistency/pace.c

# Gratuitous ARP (arp/garp.c); links libnet (-lnet). The frame-building
# cases skip without CAP_NET_RAW (libnet opens a packet socket on "lo").
UNIT_TESTS += test_garp
test_garp_SOURCES := arp/garp.c common/log.c

UNIT_TESTS += test_replica
test_replica_SOURCES := backup/replica.c vmm/vm_snapshot.c vmm/vm_precopy.c vmm/vm_state.c vmm/ckpt_codec.c vmm/ckpt_page.c vmm/ckpt_crc.c vmm/vm_dirty.c vmm/vm.c vmm/vm_cpu.c vmm/vm_clock.c vmm/vm_pause.c vmm/vnic.c vmm/elf_loader.c vmm/boot_info.c vmm/cpu_features.c vmm/vm_profile.c common/log.c

# The backup's reverse-replication core over a fake capture backend (the
# real capture thread, log, gate and digests; no NIC).
UNIT_TESTS += test_reverse
test_reverse_SOURCES := backup/reverse.c backup/capture.c \
	backup/capture_pcap.c backup/capture_xdp.c backup/capture_ringbuf.c \
	backup/capture_prog.c backup/replay_log.c netstate/frame.c \
	netstate/frame_build.c netstate/frame_digest.c netstate/flow.c \
	netstate/replay_gate.c netstate/replay_audit.c common/repl_protocol.c \
	common/report.c common/log.c vmm/ckpt_codec.c vmm/ckpt_page.c \
	vmm/ckpt_crc.c

# The takeover's report from its bookkeeping (no VM is built).
UNIT_TESTS += test_takeover
test_takeover_SOURCES := backup/takeover.c backup/replay_backend.c \
	backup/replica.c arp/garp.c common/run_cmd.c $(test_reverse_SOURCES) \
	$(filter-out vmm/vm_control.c vmm/ckpt_codec.c vmm/ckpt_page.c \
	vmm/ckpt_crc.c,$(wildcard vmm/*.c))

# The primary's delta cache (what the backup holds, bounded).
UNIT_TESTS += test_delta_cache
test_delta_cache_SOURCES := primary/delta_cache.c

# The backup's replay log (digests, trim rules, limits) and its pcapng export.
UNIT_TESTS += test_replay_log
test_replay_log_SOURCES := backup/replay_log.c netstate/frame_digest.c common/log.c
UNIT_TESTS += test_pcapng
test_pcapng_SOURCES := backup/replay_log.c backup/pcapng.c \
	netstate/frame_digest.c common/log.c

# netstate/: frame parsing, flow state, replay gating and audit.
UNIT_TESTS += test_netstate_frame
test_netstate_frame_SOURCES := netstate/frame.c netstate/frame_build.c
UNIT_TESTS += test_frame_digest
test_frame_digest_SOURCES := netstate/frame_digest.c
UNIT_TESTS += test_guest_filter
test_guest_filter_SOURCES := netstate/guest_filter.c
UNIT_TESTS += test_netstate_flow
test_netstate_flow_SOURCES := netstate/frame.c netstate/frame_build.c netstate/flow.c
UNIT_TESTS += test_netstate_gate
test_netstate_gate_SOURCES := netstate/frame.c netstate/frame_build.c \
	netstate/flow.c netstate/replay_gate.c netstate/replay_audit.c common/log.c \
	common/report.c
UNIT_TESTS += test_netstate_audit
test_netstate_audit_SOURCES := netstate/frame.c netstate/frame_build.c \
	netstate/flow.c netstate/replay_gate.c netstate/replay_audit.c common/log.c \
	common/report.c

# checkpoint-probe's summary (its JSON fields, text from the same calls).
UNIT_TESTS += test_ckpt_probe
test_ckpt_probe_SOURCES := $(filter-out vmm/vm_control.c,$(wildcard vmm/*.c)) \
	common/log.c common/report.c

# One field table for text and JSON reports.
UNIT_TESTS += test_report
test_report_SOURCES := common/report.c

# Replication protocol messages through the real framing.
UNIT_TESTS += test_repl_protocol
test_repl_protocol_SOURCES := common/repl_protocol.c vmm/ckpt_codec.c \
	vmm/ckpt_page.c vmm/ckpt_crc.c

# The Remus release rule of the buffered output policy.
UNIT_TESTS += test_output_buffer
test_output_buffer_SOURCES := primary/output_buffer.c primary/output_release.c \
	common/log.c

# The daemons' control socket server, over a real Unix socket.
UNIT_TESTS += test_control_server
test_control_server_SOURCES := common/control_server.c common/report.c \
	common/log.c

# The secure replication channel (handshake, records, key file); libsodium.
# The TCP transport: address parsing, connect/accept on loopback.
UNIT_TESTS += test_transport_tcp
test_transport_tcp_SOURCES := common/transport_tcp.c

UNIT_TESTS += test_secure_transport
test_secure_transport_SOURCES := common/secure_transport.c \
	common/secure_handshake.c common/secure_record.c \
	common/transport_tcp.c common/log.c common/repl_protocol.c \
	vmm/ckpt_codec.c vmm/ckpt_page.c vmm/ckpt_crc.c
# The link's receiving end on loopback: HELLO handed over, another
# protocol version refused with both versions named.
UNIT_TESTS += test_repl_link
test_repl_link_SOURCES := common/repl_link.c $(test_secure_transport_SOURCES)

UNIT_TESTS += test_key_file
test_key_file_SOURCES := common/key_file.c

# CPU features: names, lists, the CPUID filter; with /dev/kvm and
# build/guest/echo.elf also the guest-visible CPUID and snapshots.
UNIT_TESTS += test_cpu_features
test_cpu_features_SOURCES := $(filter-out vmm/vm_control.c,$(wildcard vmm/*.c)) \
	common/log.c common/report.c tests/unit/kvm_test_vm.c

# The vCPU throttle against a CPU-bound guest (needs /dev/kvm and
# build/guest/echo.elf, skips otherwise).
UNIT_TESTS += test_vm_throttle
test_vm_throttle_SOURCES := $(filter-out vmm/vm_control.c,$(wildcard vmm/*.c)) \
	common/log.c common/report.c tests/unit/kvm_test_vm.c

# The bandwidth cap's token bucket (fake clock; one real-clock case).
UNIT_TESTS += test_rate_limit
test_rate_limit_SOURCES := common/rate_limit.c

# The pre-copy planner: round arithmetic, QEMU's auto-converge rule, and
# simulated migrations (converging, non-converging, bandwidth-capped).
UNIT_TESTS += test_precopy_plan
test_precopy_plan_SOURCES := migration/precopy_plan.c

# The instance profile: hashing, wire layout, malformed payloads, the
# destination's check; links libsodium.
UNIT_TESTS += test_vm_profile
test_vm_profile_SOURCES := vmm/vm_profile.c vmm/cpu_features.c \
	vmm/boot_info.c vmm/ckpt_codec.c vmm/ckpt_page.c vmm/ckpt_crc.c

# A migration's channels: which links join the session coming in.
UNIT_TESTS += test_incoming_channels
test_incoming_channels_SOURCES := backup/incoming_channels.c

# The options of `rrvm ctl SOCKET migrate` (defaults, ranges, the key).
UNIT_TESTS += test_migrate_args
test_migrate_args_SOURCES := migration/migrate_args.c common/number.c

# The adaptive failure detector and the heartbeat datagram.
UNIT_TESTS += test_detector
test_detector_SOURCES := backup/detector.c common/heartbeat.c \
	common/transport_tcp.c
