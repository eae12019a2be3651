// SPDX-License-Identifier: Apache-2.0
/*
 * haul/plugin.h — the C ABI between the haul core and its plugins.
 *
 * A plugin is a shared object that exports exactly one symbol,
 * haul_plugin_entry(), returning a static haul_plugin_info. Everything that
 * crosses this boundary is plain C: no C++ types, no exceptions, and no memory
 * allocated on one side and freed on the other. Strings are NUL-terminated
 * UTF-8 unless a length is given.
 *
 * Versioning: HAUL_ABI_MAJOR changes only when an existing field changes
 * meaning or position; the host refuses any other major. HAUL_ABI_MINOR grows
 * when fields are appended to a struct; the host refuses a plugin built
 * against a newer minor than its own, and reads struct_size to know which
 * appended fields a plugin from an older minor has.
 *
 * Most authors should not use this header directly: haul/sdk.hpp turns a
 * C++ class into a haul_plugin_info with one macro.
 */
#ifndef HAUL_PLUGIN_H
#define HAUL_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HAUL_ABI_MAJOR 1
#define HAUL_ABI_MINOR 6

#if defined(_WIN32)
#define HAUL_EXPORT __declspec(dllexport)
#else
#define HAUL_EXPORT __attribute__((visibility("default")))
#endif

/* The name of the one symbol every plugin exports. */
#define HAUL_PLUGIN_ENTRY_SYMBOL "haul_plugin_entry"

/* Result of every call that can fail. Zero is success; the rest are distinct. */
typedef enum haul_rc {
  HAUL_OK = 0,
  HAUL_ERROR = 1,     /* details in last_error() */
  HAUL_TIMEOUT = 2,   /* trigger: nothing arrived within timeout_ms */
  HAUL_CANCELLED = 3, /* cancel() was called, or the sink asked to stop */
  HAUL_END = 4,       /* trigger: no event will ever come again (e.g. stdin consumed) */
  HAUL_RESTART = 5,   /* source: the object changed since the transfer's first attempt
                         (it is no longer the version pinned, see haul_fetch_request.pin);
                         the bytes delivered so far are void — fetch again from 0 */
  HAUL_PERMANENT = 6  /* ABI 1.6, source: the object is missing or access to it is refused
                         (HTTP 404, 403, or 401 after any token refresh of the source's own;
                         a missing file or key). Asking again gets the same answer, so the
                         host does not retry it unless the operator asked (retry_missing). */
} haul_rc;

/* Zero is never a valid kind, so an uninitialised struct is refused. */
typedef enum haul_kind {
  HAUL_KIND_TRIGGER = 1,
  HAUL_KIND_SOURCE = 2,
  HAUL_KIND_HOOK = 3,
  HAUL_KIND_GATE = 4 /* ABI 1.3: rollout coordination (canary, batches, halt) */
} haul_kind;

typedef enum haul_log_level {
  HAUL_LOG_DEBUG = 1,
  HAUL_LOG_INFO = 2,
  HAUL_LOG_WARN = 3,
  HAUL_LOG_ERROR = 4
} haul_log_level;

/* Phases at which hooks are called, in the order a deploy reaches them. */
typedef enum haul_phase {
  HAUL_PHASE_PRE = 1,     /* after fetch + verify, before dest is touched */
  HAUL_PHASE_POST = 2,    /* after dest holds the new release */
  HAUL_PHASE_SUCCESS = 3, /* the deploy succeeded; deploy_log holds its log */
  HAUL_PHASE_FAILURE = 4, /* the deploy failed; error says why */
  HAUL_PHASE_VERIFY = 5,  /* release strategy: health checks after the switch; failing rolls back */
  HAUL_PHASE_ROLLBACK = 6 /* current was switched back (haul rollback, or after a failed post/verify) */
} haul_phase;

/* The phase as manifests spell it ("pre", "post", ...); "unknown" otherwise. */
static inline const char *haul_phase_name(haul_phase phase) {
  switch (phase) {
    case HAUL_PHASE_PRE: return "pre";
    case HAUL_PHASE_POST: return "post";
    case HAUL_PHASE_SUCCESS: return "success";
    case HAUL_PHASE_FAILURE: return "failure";
    case HAUL_PHASE_VERIFY: return "verify";
    case HAUL_PHASE_ROLLBACK: return "rollback";
  }
  return "unknown";
}

/* One key/value pair. Both strings are owned by whoever passes the array and
 * are valid only for the duration of the call they are passed to. */
typedef struct haul_kv {
  const char *key;
  const char *value;
} haul_kv;

/* One configuration field a plugin accepts. The core validates the pipeline
 * YAML against these before create() is called, applies defaults, and passes
 * every field that has a value as a haul_kv string:
 *   type "string"   — as written
 *   type "bool"     — "true" or "false"
 *   type "int"      — decimal
 *   type "duration" — milliseconds, decimal ("1m30s" arrives as "90000")
 *   type "bytes"    — bytes, decimal ("10M" arrives as "10000000")
 *   type "list"     — items joined by '\n'
 * The array is terminated by an entry whose name is NULL. Static storage. */
typedef struct haul_config_field {
  const char *name;          /* required */
  const char *type;          /* required: one of the types above */
  const char *default_value; /* optional: NULL means no default */
  const char *description;   /* required: one line, shown by `haul plugins describe` */
  int required;              /* non-zero: the pipeline must set it */
} haul_config_field;

/* Services the host offers a plugin instance. Owned by the host, valid until
 * destroy() returns. Every function here is thread-safe. */
typedef struct haul_host {
  uint32_t struct_size;
  uint16_t abi_major, abi_minor;
  void *ctx; /* pass back as the first argument */
  /* Writes one line to haul's log. */
  void (*log)(void *ctx, haul_log_level level, const char *message);
  const char *host_version; /* e.g. "0.1.0" */

  /* ---- ABI 1.6: read only when struct_size covers it ---- */
  /* Non-zero in a long-running host (`haul agent`): background chores such
   * as a heartbeat belong there. 0 in one-shot commands (`haul deploy`, the
   * stdin handler, `haul rollback`), whose end says nothing about the node. */
  int long_running;
} haul_host;

/* ---- trigger ----------------------------------------------------------- */

/* One event. Filled by next_event(); the strings are owned by the plugin and
 * stay valid until the next call of next_event() or destroy() on the same
 * instance. */
typedef struct haul_event {
  uint32_t struct_size; /* set by the host before the call */
  const char *id;       /* unique per event; "" when the transport has none */
  uint64_t ltime;       /* Lamport time; 0 when unknown */
  const char *name;     /* event name, e.g. "deploy_web"; may be "" */
  const char *payload;  /* the manifest URL; not NUL-terminated, see payload_len */
  size_t payload_len;
} haul_event;

/* ---- source ------------------------------------------------------------ */

/* Where a source delivers bytes. Owned by the host; valid during fetch(). */
typedef struct haul_sink {
  uint32_t struct_size;
  void *ctx;
  /* Takes bytes in order. Returns 0 to continue; non-zero means stop now:
   * fetch() must then return HAUL_CANCELLED. Called on fetch()'s thread. */
  int (*write)(void *ctx, const void *bytes, size_t len);
  /* Non-zero once the host wants the fetch abandoned (timeout, shutdown).
   * Poll it while waiting for the network. Thread-safe. */
  int (*cancelled)(void *ctx);
  /* Optional to call: the total size of the object from offset 0, once known. */
  void (*set_total_size)(void *ctx, uint64_t total_bytes);
  /* ---- ABI 1.6: call only when struct_size covers it ---- */
  /* The version of the object being read (an ETag, a generation, a file's
   * inode and times), reported once it is known — when the response headers
   * arrive, before the first write. The host keeps what a transfer's first
   * attempt reports and passes it back as haul_fetch_request.pin on each
   * resume. A source that never calls it is never resumed: after a fault the
   * host fetches the object again from its start. */
  void (*set_pin)(void *ctx, const char *version);
} haul_sink;

typedef struct haul_fetch_request {
  uint32_t struct_size;
  const char *url;  /* required, e.g. "file:///srv/app.tgz" */
  uint64_t offset;  /* deliver bytes from this offset on (resume after a fault) */
  /* ---- ABI 1.5: read only when struct_size covers it ---- */
  uint64_t length;  /* deliver at most this many bytes (a part of a pack); 0: to the end.
                       A source that delivers more is stopped by the host's sink. */
  /* ---- ABI 1.6 ---- */
  const char *pin;  /* "" on a transfer's first attempt. On a resume, the version the first
                       attempt reported with set_pin: deliver bytes of that version only
                       (ask the server: If-Match, ifGenerationMatch, If-Range), and return
                       HAUL_RESTART when the object is another one now. */
} haul_fetch_request;

/* ABI 1.1: what store() uploads. Owned by the host; valid during store(). */
typedef struct haul_store_request {
  uint32_t struct_size;
  const char *url;          /* required: where the object goes, e.g. "s3://bucket/app.tgz" */
  const char *path;         /* required: a local file holding the bytes */
  const char *content_type; /* optional: NULL or "" lets the source choose */
} haul_store_request;

/* ---- hook -------------------------------------------------------------- */

/* What a hook sees of a deploy. Owned by the host; valid during on_phase().
 * Every string is non-NULL ("" when not applicable). */
typedef struct haul_hook_context {
  uint32_t struct_size;
  haul_phase phase;
  const char *pipeline;
  const char *event_id;
  const char *manifest_url;
  const char *dest;
  const char *release_dir; /* where the new release is (dest for rsync/mv) */
  /* The manifest's commands for this phase (commands.pre, ...), in order. */
  const char *const *commands;
  size_t command_count;
  /* Environment the core wants commands to see (HAUL_PHASE, ...). */
  const haul_kv *env;
  size_t env_count;
  /* The deploy log so far; for success and failure, the whole log. */
  const char *deploy_log;
  size_t deploy_log_len;
  const char *error; /* failure: why the deploy failed */
  /* Appends a line to this deploy's log (and haul's log). Thread-safe. */
  void (*log)(void *log_ctx, haul_log_level level, const char *message);
  void *log_ctx;
  /* Non-zero once the host wants the hook to stop (deploy timeout, shutdown). */
  int (*cancelled)(void *log_ctx);
  uint64_t event_ltime;          /* 0 when the trigger has none */
  uint64_t started_at_unix_ms;   /* when the deploy started */
  uint64_t finished_at_unix_ms;  /* success and failure: when it ended; 0 before */
  const char *node;              /* this host's name */
  const char *release;           /* the manifest's release id, else the release folder's name
                                    (sync_strategy: release); "" when neither */
  const char *previous_release_dir; /* the release current pointed at before; "" if none */
  uint64_t command_timeout_ms;   /* the manifest's command_timeout; 0 = the hook's default */

  /* ---- ABI 1.2: read only when struct_size covers them ---- */
  /* Optional to call (NULL from an older host). A hook that runs commands
   * reports each command's process group when it starts and when it ends.
   * The host records the running groups in the deploy journal, so that if
   * haul is killed mid-command (kill -9, OOM), the next deploy of the same
   * dest ends the group instead of leaving it running orphaned. Groups that
   * ended (even with background children left on purpose) are never
   * touched. Thread-safe. */
  void (*process_started)(void *log_ctx, int64_t pgid);
  void (*process_ended)(void *log_ctx, int64_t pgid);

  /* ---- ABI 1.6: read only when struct_size covers them ---- */
  /* success, failure and rollback: the release dest runs now — the new one
   * after a success, the one still in place after a failure (as recorded
   * beside dest; "" when haul has no record), the one switched to by a
   * rollback — and since when (0 when unknown). A status hook reports it
   * beside the attempt, which may have failed or been held back. */
  const char *running_release;
  uint64_t running_since_unix_ms;
} haul_hook_context;

/* ---- gate (ABI 1.3) ------------------------------------------------------ */

/* A gate coordinates one release's rollout across the nodes of a pipeline
 * through a shared store (Consul KV, etcd): which node may place the release
 * now, how many at once, and whether the release was halted fleet-wide.
 * The core calls enter() once the artifact is fetched and verified, before
 * dest is touched; leave() with the outcome; watch() after a switch, when
 * a halt must roll the node back. watch() may run on another thread while
 * enter()/leave() run for a newer release. */

typedef enum haul_gate_verdict {
  HAUL_GATE_PROCEED = 1, /* enter: this node holds a slot, place now.
                            watch: the rollout completed, nothing to undo */
  HAUL_GATE_HALTED = 2   /* the release's rollout is halted fleet-wide */
} haul_gate_verdict;

/* A pipeline's `rollout:` block, validated by the core. */
typedef struct haul_rollout_policy {
  uint32_t struct_size;
  uint32_t canary;               /* the first this many nodes deploy alone; 0 = no canary stage */
  uint64_t canary_soak_ms;       /* then the release must stay healthy this long */
  uint32_t max_parallel;         /* then at most this many nodes at once; 0 = use the percentage */
  uint32_t max_parallel_percent; /* 1..100 of the nodes taking part in the rollout */
  uint32_t max_failures;         /* this many failed nodes halt the release (>= 1) */
  int rollback_on_halt;          /* non-zero: nodes that switched roll back when halted */
} haul_rollout_policy;

/* Owned by the host; valid during the call. Every string is non-NULL. */
typedef struct haul_gate_request {
  uint32_t struct_size;
  const char *pipeline;
  const char *release; /* names the rollout: the manifest's release id, else its sha256 */
  const char *node;    /* this host's name */
  const haul_rollout_policy *policy;
  /* Appends a line to the deploy's log (and haul's log). Thread-safe. */
  void (*log)(void *log_ctx, haul_log_level level, const char *message);
  void *log_ctx;
  /* Non-zero once the host wants the call to give up (shutdown): the gate
   * returns HAUL_CANCELLED. Poll it while blocked. */
  int (*cancelled)(void *log_ctx);
} haul_gate_request;

/* ---- listing a store (ABI 1.4) ----------------------------------------- */

/* One object a source's list() found. */
typedef struct haul_object {
  const char *name;   /* relative to the prefix listed, e.g. "chunks/ab/ab12….zst" */
  uint64_t size;
  int64_t mtime_unix; /* last modified, unix seconds; 0 when unknown */
} haul_object;
typedef void (*haul_object_fn)(void *ctx, const haul_object *object);

/* ---- the plugin -------------------------------------------------------- */

typedef struct haul_plugin_info {
  uint32_t struct_size; /* required: sizeof(haul_plugin_info) as the plugin was built */
  uint16_t abi_major;   /* required: HAUL_ABI_MAJOR as the plugin was built */
  uint16_t abi_minor;   /* required: HAUL_ABI_MINOR as the plugin was built */
  haul_kind kind;       /* required */
  const char *name;     /* required: unique, [a-z0-9-]+, e.g. "source-file" is "file" */
  const char *version;  /* required: the plugin's own version */
  const char *description; /* required: one line */
  const haul_config_field *config_fields; /* optional: NULL = accepts no config */

  /* Required. Returns a new instance, or NULL with a message in err.
   * cfg holds validated values (see haul_config_field); host outlives the
   * instance. Called on any thread, never concurrently with itself. */
  void *(*create)(const haul_kv *cfg, size_t cfg_count, const haul_host *host,
                  char *err, size_t err_len);
  /* Required. Frees the instance; no other call on it is running. */
  void (*destroy)(void *self);
  /* Required. The message of the last failed call on this instance, owned by
   * the plugin, valid until the next call on the instance. Never NULL. */
  const char *(*last_error)(void *self);

  /* trigger — both required for HAUL_KIND_TRIGGER.
   * next_event blocks at most timeout_ms. One caller thread at a time. */
  haul_rc (*next_event)(void *self, uint32_t timeout_ms, haul_event *out);
  /* Wakes a blocked next_event(), which then returns HAUL_CANCELLED.
   * Thread-safe: called from any thread. */
  void (*cancel)(void *self);

  /* source — both required for HAUL_KIND_SOURCE.
   * schemes: static, NULL-terminated, e.g. {"http", "https", NULL}.
   * fetch streams the object at req->url, from req->offset, into sink.
   * One fetch per instance at a time. */
  const char *const *schemes;
  haul_rc (*fetch)(void *self, const haul_fetch_request *req, const haul_sink *sink);

  /* hook — required for HAUL_KIND_HOOK. Called on the deploy's thread. */
  haul_rc (*on_phase)(void *self, const haul_hook_context *ctx);

  /* ---- ABI 1.1 ---- */
  /* source — optional (NULL: this source only reads). Writes the file at
   * req->path to req->url so that a reader sees either the old object or the
   * whole new one, never a part (the publish side relies on that for
   * manifests and pointers). A host reads this field only when struct_size
   * covers it. */
  haul_rc (*store)(void *self, const haul_store_request *req);

  /* ---- ABI 1.3 ---- */
  /* gate — enter, leave, watch and control are required for HAUL_KIND_GATE.
   * enter blocks until this node may place the release (*verdict PROCEED)
   * or the release is halted (HALTED); a node that dies while it holds a
   * slot must free it within the store's lease or session TTL. */
  haul_rc (*gate_enter)(void *self, const haul_gate_request *req, haul_gate_verdict *verdict);
  /* The node's outcome: frees its slot; a failure counts toward max_failures. */
  haul_rc (*gate_leave)(void *self, const haul_gate_request *req, int succeeded, const char *error);
  /* After a node switched: blocks at most timeout_ms. HAUL_OK with HALTED
   * when the rollout was halted, with PROCEED once it completed;
   * HAUL_TIMEOUT when neither happened yet. */
  haul_rc (*gate_watch)(void *self, const haul_gate_request *req, uint32_t timeout_ms,
                        haul_gate_verdict *verdict);
  /* Operators' commands: verb "status" (release may be "" = every rollout
   * of the pipeline), "halt" (reason given) or "resume"; release "" means the
   * pipeline's newest rollout. *out_json is owned by the plugin, valid until
   * the next call on the instance: the rollouts it saw or changed, as
   * {"rollouts":[{"release","started_at_ms","halted":{...}|null,
   *  "nodes":{node:{"state","canary","since_ms","error"}}}]} */
  haul_rc (*gate_control)(void *self, const char *verb, const char *pipeline, const char *release,
                          const char *reason, const char **out_json);

  /* ---- ABI 1.4 ---- */
  /* source — optional (NULL: this source cannot list). Calls each(ctx, o)
   * for every object whose URL starts with prefix_url (which ends in '/'),
   * in any order; o and its strings are valid during the call. For `haul gc`,
   * which prunes a chunk store. */
  haul_rc (*list)(void *self, const char *prefix_url, haul_object_fn each, void *ctx);
  /* source — optional (NULL: this source cannot remove). Deletes the object
   * at url; an object already absent is not an error. */
  haul_rc (*remove)(void *self, const char *url);

  /* Append new fields only below this line, and bump HAUL_ABI_MINOR. */
} haul_plugin_info;

typedef const haul_plugin_info *(*haul_plugin_entry_fn)(void);

#ifdef __cplusplus
}
#endif

#endif /* HAUL_PLUGIN_H */
