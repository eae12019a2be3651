// SPDX-License-Identifier: Apache-2.0
// The plugin ABI's layout, frozen (sdk/include/haul/plugin.h, ABI 1.6): the
// size and alignment of each struct that crosses the shared-object boundary
// and the offset of each of its fields, on x86-64. A field reordered,
// retyped or inserted in the middle moves what a plugin built against an
// older header reads, and the header's versioning says that needs a new
// HAUL_ABI_MAJOR; here it fails the build instead of a plugin at run time.
//
// The one allowed change is the header's own rule: a field appended at the
// end of a struct, with HAUL_ABI_MINOR bumped (the host reads struct_size to
// know whether a plugin has it). Then add the field's offset below under a
// "// ABI 1.N" line and update its struct's size: the fields already here
// must not move. (As in Falco's plugin_api.h.) The structs with no
// struct_size (haul_kv, haul_config_field, haul_object) take no appended
// field at all: they travel in arrays, or from a plugin of an older minor
// to the host, where a larger size cannot be told.
#include <haul/plugin.h>

#include <gtest/gtest.h>

#include <cstddef>

#if defined(__x86_64__)

#define ABI_STRUCT(type, size, align)                                                                       \
  static_assert(sizeof(type) == (size), #type "'s size changed: append only, bump HAUL_ABI_MINOR, update here"); \
  static_assert(alignof(type) == (align), #type "'s alignment changed")
#define ABI_FIELD(type, field, offset) \
  static_assert(offsetof(type, field) == (offset), #type "." #field " moved: existing fields never move")
#define ABI_ENUM(type, size) static_assert(sizeof(type) == (size), #type " is no longer an int's size")

static_assert(HAUL_ABI_MAJOR == 1 && HAUL_ABI_MINOR == 6,
              "the ABI's version moved: freeze the appended fields below, then this line");

ABI_STRUCT(haul_kv, 16, 8);
ABI_FIELD(haul_kv, key, 0);
ABI_FIELD(haul_kv, value, 8);

ABI_STRUCT(haul_config_field, 40, 8);
ABI_FIELD(haul_config_field, name, 0);
ABI_FIELD(haul_config_field, type, 8);
ABI_FIELD(haul_config_field, default_value, 16);
ABI_FIELD(haul_config_field, description, 24);
ABI_FIELD(haul_config_field, required, 32);

ABI_STRUCT(haul_host, 40, 8);
ABI_FIELD(haul_host, struct_size, 0);
ABI_FIELD(haul_host, abi_major, 4);
ABI_FIELD(haul_host, abi_minor, 6);
ABI_FIELD(haul_host, ctx, 8);
ABI_FIELD(haul_host, log, 16);
ABI_FIELD(haul_host, host_version, 24);
// ABI 1.6
ABI_FIELD(haul_host, long_running, 32);

ABI_STRUCT(haul_event, 48, 8);
ABI_FIELD(haul_event, struct_size, 0);
ABI_FIELD(haul_event, id, 8);
ABI_FIELD(haul_event, ltime, 16);
ABI_FIELD(haul_event, name, 24);
ABI_FIELD(haul_event, payload, 32);
ABI_FIELD(haul_event, payload_len, 40);

ABI_STRUCT(haul_sink, 48, 8);
ABI_FIELD(haul_sink, struct_size, 0);
ABI_FIELD(haul_sink, ctx, 8);
ABI_FIELD(haul_sink, write, 16);
ABI_FIELD(haul_sink, cancelled, 24);
ABI_FIELD(haul_sink, set_total_size, 32);
// ABI 1.6
ABI_FIELD(haul_sink, set_pin, 40);

ABI_STRUCT(haul_fetch_request, 40, 8);
ABI_FIELD(haul_fetch_request, struct_size, 0);
ABI_FIELD(haul_fetch_request, url, 8);
ABI_FIELD(haul_fetch_request, offset, 16);
// ABI 1.5
ABI_FIELD(haul_fetch_request, length, 24);
// ABI 1.6
ABI_FIELD(haul_fetch_request, pin, 32);

// ABI 1.1
ABI_STRUCT(haul_store_request, 32, 8);
ABI_FIELD(haul_store_request, struct_size, 0);
ABI_FIELD(haul_store_request, url, 8);
ABI_FIELD(haul_store_request, path, 16);
ABI_FIELD(haul_store_request, content_type, 24);

ABI_STRUCT(haul_hook_context, 216, 8);
ABI_FIELD(haul_hook_context, struct_size, 0);
ABI_FIELD(haul_hook_context, phase, 4);
ABI_FIELD(haul_hook_context, pipeline, 8);
ABI_FIELD(haul_hook_context, event_id, 16);
ABI_FIELD(haul_hook_context, manifest_url, 24);
ABI_FIELD(haul_hook_context, dest, 32);
ABI_FIELD(haul_hook_context, release_dir, 40);
ABI_FIELD(haul_hook_context, commands, 48);
ABI_FIELD(haul_hook_context, command_count, 56);
ABI_FIELD(haul_hook_context, env, 64);
ABI_FIELD(haul_hook_context, env_count, 72);
ABI_FIELD(haul_hook_context, deploy_log, 80);
ABI_FIELD(haul_hook_context, deploy_log_len, 88);
ABI_FIELD(haul_hook_context, error, 96);
ABI_FIELD(haul_hook_context, log, 104);
ABI_FIELD(haul_hook_context, log_ctx, 112);
ABI_FIELD(haul_hook_context, cancelled, 120);
ABI_FIELD(haul_hook_context, event_ltime, 128);
ABI_FIELD(haul_hook_context, started_at_unix_ms, 136);
ABI_FIELD(haul_hook_context, finished_at_unix_ms, 144);
ABI_FIELD(haul_hook_context, node, 152);
ABI_FIELD(haul_hook_context, release, 160);
ABI_FIELD(haul_hook_context, previous_release_dir, 168);
ABI_FIELD(haul_hook_context, command_timeout_ms, 176);
// ABI 1.2
ABI_FIELD(haul_hook_context, process_started, 184);
ABI_FIELD(haul_hook_context, process_ended, 192);
// ABI 1.6
ABI_FIELD(haul_hook_context, running_release, 200);
ABI_FIELD(haul_hook_context, running_since_unix_ms, 208);

// ABI 1.3
ABI_STRUCT(haul_rollout_policy, 32, 8);
ABI_FIELD(haul_rollout_policy, struct_size, 0);
ABI_FIELD(haul_rollout_policy, canary, 4);
ABI_FIELD(haul_rollout_policy, canary_soak_ms, 8);
ABI_FIELD(haul_rollout_policy, max_parallel, 16);
ABI_FIELD(haul_rollout_policy, max_parallel_percent, 20);
ABI_FIELD(haul_rollout_policy, max_failures, 24);
ABI_FIELD(haul_rollout_policy, rollback_on_halt, 28);

// ABI 1.3
ABI_STRUCT(haul_gate_request, 64, 8);
ABI_FIELD(haul_gate_request, struct_size, 0);
ABI_FIELD(haul_gate_request, pipeline, 8);
ABI_FIELD(haul_gate_request, release, 16);
ABI_FIELD(haul_gate_request, node, 24);
ABI_FIELD(haul_gate_request, policy, 32);
ABI_FIELD(haul_gate_request, log, 40);
ABI_FIELD(haul_gate_request, log_ctx, 48);
ABI_FIELD(haul_gate_request, cancelled, 56);

// ABI 1.4
ABI_STRUCT(haul_object, 24, 8);
ABI_FIELD(haul_object, name, 0);
ABI_FIELD(haul_object, size, 8);
ABI_FIELD(haul_object, mtime_unix, 16);

ABI_STRUCT(haul_plugin_info, 168, 8);
ABI_FIELD(haul_plugin_info, struct_size, 0);
ABI_FIELD(haul_plugin_info, abi_major, 4);
ABI_FIELD(haul_plugin_info, abi_minor, 6);
ABI_FIELD(haul_plugin_info, kind, 8);
ABI_FIELD(haul_plugin_info, name, 16);
ABI_FIELD(haul_plugin_info, version, 24);
ABI_FIELD(haul_plugin_info, description, 32);
ABI_FIELD(haul_plugin_info, config_fields, 40);
ABI_FIELD(haul_plugin_info, create, 48);
ABI_FIELD(haul_plugin_info, destroy, 56);
ABI_FIELD(haul_plugin_info, last_error, 64);
ABI_FIELD(haul_plugin_info, next_event, 72);
ABI_FIELD(haul_plugin_info, cancel, 80);
ABI_FIELD(haul_plugin_info, schemes, 88);
ABI_FIELD(haul_plugin_info, fetch, 96);
ABI_FIELD(haul_plugin_info, on_phase, 104);
// ABI 1.1
ABI_FIELD(haul_plugin_info, store, 112);
// ABI 1.3
ABI_FIELD(haul_plugin_info, gate_enter, 120);
ABI_FIELD(haul_plugin_info, gate_leave, 128);
ABI_FIELD(haul_plugin_info, gate_watch, 136);
ABI_FIELD(haul_plugin_info, gate_control, 144);
// ABI 1.4
ABI_FIELD(haul_plugin_info, list, 152);
ABI_FIELD(haul_plugin_info, remove, 160);
// The enums cross the boundary inside the structs and as return values: an int each.
ABI_ENUM(haul_rc, 4);
ABI_ENUM(haul_kind, 4);
ABI_ENUM(haul_log_level, 4);
ABI_ENUM(haul_phase, 4);
ABI_ENUM(haul_gate_verdict, 4);

#endif  // __x86_64__

// The asserts above are the test; this names it in CTest's list.
TEST(PluginAbi, EveryStructsLayoutIsFrozenAtAbi16) {
#if defined(__x86_64__)
  SUCCEED();
#else
  GTEST_SKIP() << "the layout is frozen for x86-64";
#endif
}
