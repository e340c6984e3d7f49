/* acpu-process-task-pool.c
 *
 * Copyright 2026 The asynccpu-glib authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* The pool's GObject surface: construction, the property table, worker
 * sources, the counters' getters and their notifications. The settings'
 * getters and setters are in acpu-pool-settings.c (sharing the property
 * table through acpu-pool-props-private.h), run and shutdown in
 * acpu-pool-submit.c. The work is done by the core on the
 * I/O thread (acpu-pool-core.c and its rooms, drawn in acpu-pool-private.h);
 * this file hands jobs and requests over to it under core->lock, and reads
 * settings and counters atomically. Everything here runs on a caller's
 * thread [caller], except the notifications, which run in the pool
 * creator's context [owner].
 */

#include "config.h"

#include <string.h>

#include "acpu-enum-types.h"
#include "acpu-error.h"
#include "acpu-pool-private.h"
#include "acpu-pool-props-private.h"
#include "acpu-process-task-pool.h"
#include "acpu-wire-private.h"

/**
 * ACpuProcessTaskPool:
 *
 * Runs named task functions in a pool of worker processes and hands each
 * result back through the GIO async pattern.
 *
 * ```c
 * static void
 * done_cb (GObject *object, GAsyncResult *result, gpointer user_data)
 * {
 *   g_autoptr(GError) error = NULL;
 *   g_autoptr(GVariant) value = NULL;
 *
 *   value = acpu_process_task_pool_run_finish (ACPU_PROCESS_TASK_POOL (object), result, &error);
 *   if (value == NULL)
 *     g_printerr ("%s\n", error->message);
 *   else
 *     g_print ("%s\n", g_variant_print (value, TRUE));
 * }
 *
 * const char *argv[] = { "/usr/libexec/my-worker", NULL };
 * g_autoptr(ACpuProcessTaskPool) pool = acpu_process_task_pool_new (argv, 4);
 *
 * acpu_process_task_pool_run_async (pool, "square", g_variant_new ("(x)", 7),
 *                                   NULL, done_cb, NULL);
 * ```
 *
 * The worker program registers its functions with [class@ACpu.Worker]. The
 * pool starts workers lazily, up to [property@ACpu.ProcessTaskPool:max-workers],
 * and reuses them; tasks beyond that wait in a FIFO queue.
 *
 * [method@ACpu.ProcessTaskPool.run_async] returns at once and the callback
 * runs in the thread-default main context of the thread that called it.
 * The pool does its I/O on a private thread, so it may be used from any
 * thread, and [method@ACpu.ProcessTaskPool.run] blocks without needing a
 * main loop.
 *
 * Cancelling a queued task completes it with %G_IO_ERROR_CANCELLED and it
 * never runs. Cancelling a running task completes it at once with
 * %G_IO_ERROR_CANCELLED and cancels the `GCancellable` the task function got
 * in the worker; if the task has not stopped after
 * [property@ACpu.ProcessTaskPool:cancel-grace-period], its worker's process
 * group is killed, and a new worker is started when one is needed.
 *
 * A worker that crashes fails only the task it was running, with
 * %ACPU_ERROR_WORKER_DIED; the pool goes on with a fresh worker. Workers
 * exit when the process that owns the pool dies, even in the middle of a
 * computation.
 *
 * ## Signals
 *
 * The library installs no signal handler. Workers run in process groups of
 * their own, so Ctrl-C in a terminal (`SIGINT` to the foreground process
 * group) reaches the application and not its workers. When the application
 * dies of it — or of `SIGTERM`, or even `SIGKILL` — every worker ends too: it
 * sees its channel close, and the kernel kills it (`PR_SET_PDEATHSIG`) even in
 * the middle of a computation. An application that handles `SIGTERM` with
 * `g_unix_signal_add()` should shut the pool down with
 * [property@ACpu.ProcessTaskPool:cancel-tasks-when-shutdown] set, as
 * asynccpu's executor does on `SIGTERM`; when the shutdown returns, no worker
 * is left.
 *
 * ## Threads and logs
 *
 * Records a worker logs with `g_log()` are logged again in this process, from
 * the pool's I/O thread, with the fields `ACPU_WORKER_PID` and `ACPU_TASK`
 * added: a log writer function sees them as structured records. They are
 * never fatal here, even under `G_DEBUG=fatal-warnings`, and their field
 * names and sizes are checked (docs/protocol.md says how). What a worker
 * writes to its standard error is passed on to this process's standard
 * error, and its last lines go into the message of %ACPU_ERROR_WORKER_DIED.
 *
 * Since: 0.1
 */

GParamSpec *acpu_pool_props[N_PROPS];

G_DEFINE_FINAL_TYPE (ACpuProcessTaskPool, acpu_process_task_pool, G_TYPE_OBJECT)

/* [owner]: notifies the counters that changed since the last time. */
void
acpu_process_task_pool_notify_counters (ACpuProcessTaskPool *self)
{
  ACpuPoolCore *core = self->core;
  guint n;

  g_object_freeze_notify (G_OBJECT (self));
  n = g_atomic_int_get (&core->n_workers);
  if (n != self->notified_workers)
    {
      self->notified_workers = n;
      g_object_notify_by_pspec (G_OBJECT (self), acpu_pool_props[PROP_N_WORKERS]);
    }
  n = acpu_core_get_n_running (core);
  if (n != self->notified_running)
    {
      self->notified_running = n;
      g_object_notify_by_pspec (G_OBJECT (self), acpu_pool_props[PROP_N_RUNNING]);
    }
  n = acpu_core_get_n_queued (core);
  if (n != self->notified_queued)
    {
      self->notified_queued = n;
      g_object_notify_by_pspec (G_OBJECT (self), acpu_pool_props[PROP_N_QUEUED]);
    }
  g_object_thaw_notify (G_OBJECT (self));

  acpu_process_task_pool_sync_workers (self);
}

/* The GObject ------------------------------------------------------------- */

/* [caller], takes core->lock: has the I/O thread look again, after a
 * setting changed. */
void
acpu_process_task_pool_wake (ACpuProcessTaskPool *self)
{
  acpu_core_lock (self->core);
  acpu_core_request_locked (self->core);
  acpu_core_unlock (self->core);
}

/* [caller]: whether anyone listens to the notifications of the counters,
 * for acpu_core_counters_changed(). */
gboolean
acpu_process_task_pool_is_watched (ACpuProcessTaskPool *self)
{
  static const guint props[] = { PROP_N_WORKERS, PROP_N_RUNNING, PROP_N_QUEUED };
  static gsize notify_id;

  if (g_once_init_enter (&notify_id))
    g_once_init_leave (&notify_id, g_signal_lookup ("notify", G_TYPE_OBJECT));

  if (self->workers != NULL ||
      g_signal_has_handler_pending (self, (guint) notify_id, 0, TRUE))
    return TRUE;
  for (guint i = 0; i < G_N_ELEMENTS (props); i++)
    if (g_signal_has_handler_pending (self, (guint) notify_id,
                                      g_param_spec_get_name_quark (acpu_pool_props[props[i]]), TRUE))
      return TRUE;
  return FALSE;
}

/* [caller] */
static void
acpu_process_task_pool_constructed (GObject *object)
{
  ACpuProcessTaskPool *self = (ACpuProcessTaskPool *) object;

  G_OBJECT_CLASS (acpu_process_task_pool_parent_class)->constructed (object);

  if (self->worker_argv != NULL && self->worker_argv[0] != NULL)
    self->core->argv = g_strdupv (self->worker_argv);
  else
    self->core->argv = acpu_core_self_argv ();

  /* A program that runs its client code in its workers too (no
   * acpu_worker_is_worker_process() guard) would start a chain: each worker
   * starting workers of its own. ACpuWorker unsets ACPU_WORKER once it runs,
   * so a real worker may still make pools of its own. */
  self->core->chain = g_getenv ("ACPU_WORKER") != NULL &&
                      acpu_core_argv_is_self (self->core->argv);
}

/* Whichever thread drops the last reference, takes core->lock. */
static void
acpu_process_task_pool_finalize (GObject *object)
{
  ACpuProcessTaskPool *self = (ACpuProcessTaskPool *) object;
  ACpuPoolCore *core = self->core;

  /* No task is left (each holds a reference); close the workers on the I/O
   * thread, which keeps the core until the last one is gone. In a child
   * forked since the pool was made, the core, its lock and its workers are
   * the parent's: leave them alone (leaked). */
  if (core->generation == acpu_io_get_generation ())
    {
      acpu_core_lock (core);
      core->closed = TRUE;
      core->finalized = TRUE;
      acpu_core_request_locked (core);
      acpu_core_unlock (core);
      acpu_core_unref (core);
    }

  acpu_process_task_pool_clear_workers (self);
  g_strfreev (self->worker_argv);

  G_OBJECT_CLASS (acpu_process_task_pool_parent_class)->finalize (object);
}

/* [caller] */
static void
acpu_process_task_pool_get_property (GObject    *object,
                                     guint       prop_id,
                                     GValue     *value,
                                     GParamSpec *pspec)
{
  ACpuProcessTaskPool *self = ACPU_PROCESS_TASK_POOL (object);

  switch (prop_id)
    {
    case PROP_WORKER_ARGV:
      g_value_set_boxed (value, self->core->argv);
      break;
    case PROP_MAX_WORKERS:
      g_value_set_uint (value, acpu_process_task_pool_get_max_workers (self));
      break;
    case PROP_CANCEL_TASKS_WHEN_SHUTDOWN:
      g_value_set_boolean (value, acpu_process_task_pool_get_cancel_tasks_when_shutdown (self));
      break;
    case PROP_CANCEL_GRACE_PERIOD:
      g_value_set_uint (value, acpu_process_task_pool_get_cancel_grace_period (self));
      break;
    case PROP_HANDSHAKE_TIMEOUT:
      g_value_set_uint (value, acpu_process_task_pool_get_handshake_timeout (self));
      break;
    case PROP_MAX_MESSAGE_SIZE:
      g_value_set_uint64 (value, acpu_process_task_pool_get_max_message_size (self));
      break;
    case PROP_TASK_TIMEOUT:
      g_value_set_uint (value, acpu_process_task_pool_get_task_timeout (self));
      break;
    case PROP_WORKER_MEMORY_LIMIT:
      g_value_set_uint64 (value, acpu_process_task_pool_get_worker_memory_limit (self));
      break;
    case PROP_MAX_QUEUED:
      g_value_set_uint (value, acpu_process_task_pool_get_max_queued (self));
      break;
    case PROP_MIN_WORKERS:
      g_value_set_uint (value, acpu_process_task_pool_get_min_workers (self));
      break;
    case PROP_IDLE_TIMEOUT:
      g_value_set_uint (value, acpu_process_task_pool_get_idle_timeout (self));
      break;
    case PROP_MAX_TASKS_PER_WORKER:
      g_value_set_uint (value, acpu_process_task_pool_get_max_tasks_per_worker (self));
      break;
    case PROP_N_WORKERS:
      g_value_set_uint (value, acpu_process_task_pool_get_n_workers (self));
      break;
    case PROP_N_RUNNING:
      g_value_set_uint (value, acpu_process_task_pool_get_n_running (self));
      break;
    case PROP_WORKER_PRIORITY:
      g_value_set_enum (value, acpu_process_task_pool_get_worker_priority (self));
      break;
    case PROP_N_QUEUED:
      g_value_set_uint (value, acpu_process_task_pool_get_n_queued (self));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

/* [caller] */
static void
acpu_process_task_pool_set_property (GObject      *object,
                                     guint         prop_id,
                                     const GValue *value,
                                     GParamSpec   *pspec)
{
  ACpuProcessTaskPool *self = ACPU_PROCESS_TASK_POOL (object);

  switch (prop_id)
    {
    case PROP_WORKER_ARGV:
      self->worker_argv = g_value_dup_boxed (value);
      break;
    case PROP_MAX_WORKERS:
      acpu_process_task_pool_set_max_workers (self, g_value_get_uint (value));
      break;
    case PROP_CANCEL_TASKS_WHEN_SHUTDOWN:
      acpu_process_task_pool_set_cancel_tasks_when_shutdown (self, g_value_get_boolean (value));
      break;
    case PROP_CANCEL_GRACE_PERIOD:
      acpu_process_task_pool_set_cancel_grace_period (self, g_value_get_uint (value));
      break;
    case PROP_HANDSHAKE_TIMEOUT:
      acpu_process_task_pool_set_handshake_timeout (self, g_value_get_uint (value));
      break;
    case PROP_MAX_MESSAGE_SIZE:
      acpu_process_task_pool_set_max_message_size (self, g_value_get_uint64 (value));
      break;
    case PROP_TASK_TIMEOUT:
      acpu_process_task_pool_set_task_timeout (self, g_value_get_uint (value));
      break;
    case PROP_WORKER_MEMORY_LIMIT:
      acpu_process_task_pool_set_worker_memory_limit (self, g_value_get_uint64 (value));
      break;
    case PROP_MAX_QUEUED:
      acpu_process_task_pool_set_max_queued (self, g_value_get_uint (value));
      break;
    case PROP_MIN_WORKERS:
      acpu_process_task_pool_set_min_workers (self, g_value_get_uint (value));
      break;
    case PROP_IDLE_TIMEOUT:
      acpu_process_task_pool_set_idle_timeout (self, g_value_get_uint (value));
      break;
    case PROP_MAX_TASKS_PER_WORKER:
      acpu_process_task_pool_set_max_tasks_per_worker (self, g_value_get_uint (value));
      break;
    case PROP_WORKER_PRIORITY:
      acpu_process_task_pool_set_worker_priority (self, g_value_get_enum (value));
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

/* Any thread, once. */
static void
acpu_process_task_pool_class_init (ACpuProcessTaskPoolClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->constructed = acpu_process_task_pool_constructed;
  object_class->finalize = acpu_process_task_pool_finalize;
  object_class->get_property = acpu_process_task_pool_get_property;
  object_class->set_property = acpu_process_task_pool_set_property;

  /**
   * ACpuProcessTaskPool:worker-argv:
   *
   * The command line that starts a worker: a program that serves the pool
   * with [class@ACpu.Worker]. It may start with a launcher prefix such as
   * `bwrap …` or `systemd-run …`, since the channel is the worker's standard
   * input and output.
   *
   * When it is `NULL` or empty, workers are the current program, started
   * again with the same arguments; there
   * [func@ACpu.Worker.is_worker_process] returns %TRUE.
   *
   * Since: 0.1
   */
  acpu_pool_props[PROP_WORKER_ARGV] =
    g_param_spec_boxed ("worker-argv", NULL, NULL,
                        G_TYPE_STRV,
                        (G_PARAM_READWRITE | G_PARAM_CONSTRUCT_ONLY | G_PARAM_STATIC_STRINGS));

  /**
   * ACpuProcessTaskPool:max-workers:
   *
   * The largest number of worker processes at once. Workers start when
   * tasks need them and are reused. Setting 0 means the number of
   * processors, which is also the default; reading gives the number in
   * force.
   *
   * Since: 0.1
   */
  acpu_pool_props[PROP_MAX_WORKERS] =
    g_param_spec_uint ("max-workers", NULL, NULL,
                       0, G_MAXINT, 0,
                       (G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * ACpuProcessTaskPool:cancel-tasks-when-shutdown:
   *
   * What a shutdown does with the tasks left, as in asynccpu: when %FALSE
   * (the default) it waits for queued and running tasks to finish; when
   * %TRUE it cancels them, kills the workers running them, and returns as
   * soon as they are gone.
   *
   * Since: 0.1
   */
  acpu_pool_props[PROP_CANCEL_TASKS_WHEN_SHUTDOWN] =
    g_param_spec_boolean ("cancel-tasks-when-shutdown", NULL, NULL,
                          FALSE,
                          (G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * ACpuProcessTaskPool:cancel-grace-period:
   *
   * How long, in milliseconds, a cancelled task may go on running before its
   * worker's process group is killed. The caller is answered at once either
   * way; this only decides when the worker is given up.
   *
   * Since: 0.1
   */
  acpu_pool_props[PROP_CANCEL_GRACE_PERIOD] =
    g_param_spec_uint ("cancel-grace-period", NULL, NULL,
                       0, G_MAXINT, ACPU_POOL_DEFAULT_GRACE_MS,
                       (G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * ACpuProcessTaskPool:handshake-timeout:
   *
   * How long, in milliseconds, a new worker may take to say hello before it
   * is killed and counted as failing to start; it also bounds how long a
   * worker may stop in the middle of a frame (%ACPU_ERROR_PROTOCOL). 0 waits
   * for ever. The default is 30 seconds.
   *
   * Since: 0.1
   */
  acpu_pool_props[PROP_HANDSHAKE_TIMEOUT] =
    g_param_spec_uint ("handshake-timeout", NULL, NULL,
                       0, G_MAXINT, ACPU_POOL_DEFAULT_HANDSHAKE_MS,
                       (G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * ACpuProcessTaskPool:max-message-size:
   *
   * The largest message, in bytes, that crosses between the pool and a
   * worker in either direction: serialized arguments or result. Larger
   * arguments fail the task with %ACPU_ERROR_INVALID_ARGUMENT; a worker that
   * sends more is killed with %ACPU_ERROR_PROTOCOL. Applies to workers
   * started after it is set. The default is 1 GiB.
   *
   * Since: 0.1
   */
  acpu_pool_props[PROP_MAX_MESSAGE_SIZE] =
    g_param_spec_uint64 ("max-message-size", NULL, NULL,
                         1024, G_MAXUINT32 - ACPU_WIRE_HEADER_SIZE, ACPU_WIRE_DEFAULT_MAX_SIZE,
                         (G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * ACpuProcessTaskPool:task-timeout:
   *
   * How long, in milliseconds, a task may run once it is handed to a worker.
   * A task that runs longer fails with %G_IO_ERROR_TIMED_OUT and is stopped
   * like a cancelled one: its worker's cancellable is cancelled, and its
   * process group killed after the grace period. 0 (the default) means no
   * limit.
   *
   * Since: 0.1
   */
  acpu_pool_props[PROP_TASK_TIMEOUT] =
    g_param_spec_uint ("task-timeout", NULL, NULL,
                       0, G_MAXINT, 0,
                       (G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * ACpuProcessTaskPool:worker-memory-limit:
   *
   * The address-space limit (`RLIMIT_AS`), in bytes, of each worker started
   * from now on; 0 (the default) means none. A worker that dies while one is
   * set fails its task with %ACPU_ERROR_WORKER_DIED, and the message says the
   * limit may be why.
   *
   * Since: 0.1
   */
  acpu_pool_props[PROP_WORKER_MEMORY_LIMIT] =
    g_param_spec_uint64 ("worker-memory-limit", NULL, NULL,
                         0, G_MAXUINT64, 0,
                         (G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * ACpuProcessTaskPool:max-queued:
   *
   * The most tasks that may wait for a worker; 0 (the default) means no
   * bound. Past it, [method@ACpu.ProcessTaskPool.run_async] fails with
   * %ACPU_ERROR_QUEUE_FULL. For back-pressure, watch
   * [property@ACpu.ProcessTaskPool:n-queued] (it is notified) and submit
   * again when it drops.
   *
   * Since: 0.1
   */
  acpu_pool_props[PROP_MAX_QUEUED] =
    g_param_spec_uint ("max-queued", NULL, NULL,
                       0, G_MAXINT, 0,
                       (G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * ACpuProcessTaskPool:min-workers:
   *
   * How many workers to keep started even when there is no task, so the
   * first tasks do not wait for a process to start; never more than
   * [property@ACpu.ProcessTaskPool:max-workers]. The default is 0.
   *
   * Since: 0.1
   */
  acpu_pool_props[PROP_MIN_WORKERS] =
    g_param_spec_uint ("min-workers", NULL, NULL,
                       0, G_MAXINT, 0,
                       (G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * ACpuProcessTaskPool:idle-timeout:
   *
   * How long, in milliseconds, a worker above
   * [property@ACpu.ProcessTaskPool:min-workers] may stay idle before it is
   * closed. 0 keeps idle workers for ever. The default is 30 seconds.
   *
   * Since: 0.1
   */
  acpu_pool_props[PROP_IDLE_TIMEOUT] =
    g_param_spec_uint ("idle-timeout", NULL, NULL,
                       0, G_MAXINT, ACPU_POOL_DEFAULT_IDLE_TIMEOUT_MS,
                       (G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * ACpuProcessTaskPool:max-tasks-per-worker:
   *
   * How many tasks a worker runs before it is replaced by a fresh one (as
   * Python's `max_tasks_per_child`), to bound what a leaky task function can
   * hold; 0 (the default) means no limit.
   *
   * Since: 0.1
   */
  acpu_pool_props[PROP_MAX_TASKS_PER_WORKER] =
    g_param_spec_uint ("max-tasks-per-worker", NULL, NULL,
                       0, G_MAXINT, 0,
                       (G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * ACpuProcessTaskPool:n-workers:
   *
   * The number of worker processes, including those starting. Notified in
   * the main context that was the thread default when the pool was made.
   *
   * Since: 0.1
   */
  acpu_pool_props[PROP_N_WORKERS] =
    g_param_spec_uint ("n-workers", NULL, NULL,
                       0, G_MAXUINT, 0,
                       (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * ACpuProcessTaskPool:n-running:
   *
   * The number of tasks handed to workers and not yet finished. Notified
   * like [property@ACpu.ProcessTaskPool:n-workers].
   *
   * Since: 0.1
   */
  acpu_pool_props[PROP_N_RUNNING] =
    g_param_spec_uint ("n-running", NULL, NULL,
                       0, G_MAXUINT, 0,
                       (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * ACpuProcessTaskPool:n-queued:
   *
   * The number of tasks waiting for a worker. Notified like
   * [property@ACpu.ProcessTaskPool:n-workers].
   *
   * Since: 0.1
   */
  acpu_pool_props[PROP_N_QUEUED] =
    g_param_spec_uint ("n-queued", NULL, NULL,
                       0, G_MAXUINT, 0,
                       (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * ACpuProcessTaskPool:worker-priority:
   *
   * The CPU priority workers start with: in a GUI application,
   * %ACPU_WORKER_PRIORITY_IDLE or %ACPU_WORKER_PRIORITY_BATCH, so the
   * application's own threads (the one that draws frames) win the CPU
   * when the workers fill every core. It applies to workers started after
   * it is set; set it before the first task (or with
   * [property@ACpu.ProcessTaskPool:min-workers], before that).
   *
   * Workers stay in the application's session, so where the kernel groups
   * processes by session for scheduling (autogroup), they are scheduled in
   * the application's group and this priority counts against its threads;
   * so do the workers of [ctor@ACpu.Launcher.new_bwrap_sandbox], unless the
   * pool cannot tell whether they will be rid of its controlling terminal
   * (then bubblewrap gives each a session of its own, a group of its own
   * there, in which its priority counts only against itself).
   *
   * Since: 0.1
   */
  acpu_pool_props[PROP_WORKER_PRIORITY] =
    g_param_spec_enum ("worker-priority", NULL, NULL,
                       ACPU_TYPE_WORKER_PRIORITY, ACPU_WORKER_PRIORITY_NORMAL,
                       (G_PARAM_READWRITE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  g_object_class_install_properties (object_class, N_PROPS, acpu_pool_props);
}

/* [caller] */
static void
acpu_process_task_pool_init (ACpuProcessTaskPool *self)
{
  self->core = acpu_core_new (self);
}

/**
 * acpu_process_task_pool_new:
 * @worker_argv: (array zero-terminated=1) (element-type filename) (nullable):
 *   the command line of a worker program, or `NULL` to start the current
 *   program again as its own worker
 * @max_workers: the largest number of workers at once, or 0 for the number
 *   of processors
 *
 * Creates a pool. No worker starts until a task needs one. Any thread may
 * create one; its notifications go to that thread's thread-default main
 * context.
 *
 * Returns: (transfer full): a new [class@ACpu.ProcessTaskPool]
 *
 * Since: 0.1
 */
ACpuProcessTaskPool *
acpu_process_task_pool_new (const char * const *worker_argv,
                            guint               max_workers)
{
  return g_object_new (ACPU_TYPE_PROCESS_TASK_POOL,
                       "worker-argv", worker_argv,
                       "max-workers", max_workers,
                       NULL);
}

/* Worker sources ----------------------------------------------------------- */

/**
 * acpu_process_task_pool_add_worker_source:
 * @pool: a [class@ACpu.ProcessTaskPool]
 * @launcher: (nullable): how to start these workers, or %NULL for this
 *   machine
 * @capacity: how many workers may run through @launcher at once
 *
 * Lets the pool start up to @capacity more workers through @launcher: in a
 * sandbox ([ctor@ACpu.Launcher.new_bwrap_sandbox]), on another machine
 * ([ctor@ACpu.Launcher.new_ssh]), as Slurm job steps
 * ([ctor@ACpu.Launcher.new_srun]). The pool then takes the launcher as it
 * is: it may no longer be changed.
 *
 * Each source has its own capacity; the workers on this machine are one
 * source too, of [property@ACpu.ProcessTaskPool:max-workers]. When a task
 * needs a new worker, it starts on the first source with room: this
 * machine first, then the others in the order they were added.
 *
 * A source that cannot start a worker (the host is down, bwrap cannot make
 * its namespaces here) is not tried again for a while, and the tasks go to
 * the other sources meanwhile; the failure is logged with the
 * %ACPU_ERROR_WORKER_START message, which names the launcher and host.
 * When no other source can take the work, the tasks fail with that error,
 * as they do when a pool's only worker program cannot start.
 *
 * With a %NULL @launcher, sets how many workers run on this machine
 * instead: like [method@ACpu.ProcessTaskPool.set_max_workers], except that
 * 0 means none here, for a pool whose workers all run elsewhere.
 *
 * Any thread may call it.
 *
 * Since: 0.1
 */
void
acpu_process_task_pool_add_worker_source (ACpuProcessTaskPool *pool,
                                          ACpuLauncher        *launcher,
                                          guint                capacity)
{
  ACpuPoolCore *core;

  g_return_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool));
  g_return_if_fail (launcher == NULL || ACPU_IS_LAUNCHER (launcher));
  g_return_if_fail (capacity <= G_MAXINT);

  core = pool->core;
  if (launcher == NULL)
    {
      g_atomic_int_set (&core->local_off, capacity == 0);
      if (capacity > 0)
        acpu_process_task_pool_set_max_workers (pool, capacity);
      acpu_process_task_pool_wake (pool);
      return;
    }

  if (capacity == 0)
    return;

  acpu_core_lock (core);
  g_ptr_array_add (core->new_sources, acpu_source_new (launcher, capacity));
  acpu_core_request_locked (core);
  acpu_core_unlock (core);
}

/* Properties --------------------------------------------------------------- */

/**
 * acpu_process_task_pool_get_worker_argv:
 * @pool: a [class@ACpu.ProcessTaskPool]
 *
 * Gets the command line that starts a worker; for a pool made with no
 * `worker_argv`, the current program's.
 *
 * Any thread may call it.
 *
 * Returns: (transfer none) (array zero-terminated=1) (element-type filename):
 *   the worker command line
 *
 * Since: 0.1
 */
const char * const *
acpu_process_task_pool_get_worker_argv (ACpuProcessTaskPool *pool)
{
  g_return_val_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool), NULL);

  return (const char * const *) pool->core->argv;
}

/**
 * acpu_process_task_pool_get_n_workers:
 * @pool: a [class@ACpu.ProcessTaskPool]
 *
 * Gets [property@ACpu.ProcessTaskPool:n-workers].
 *
 * Any thread may call it.
 *
 * Returns: the number of worker processes
 *
 * Since: 0.1
 */
guint
acpu_process_task_pool_get_n_workers (ACpuProcessTaskPool *pool)
{
  g_return_val_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool), 0);

  return g_atomic_int_get (&pool->core->n_workers);
}

/**
 * acpu_process_task_pool_get_n_running:
 * @pool: a [class@ACpu.ProcessTaskPool]
 *
 * Gets [property@ACpu.ProcessTaskPool:n-running].
 *
 * Any thread may call it.
 *
 * Returns: the number of tasks handed to workers
 *
 * Since: 0.1
 */
guint
acpu_process_task_pool_get_n_running (ACpuProcessTaskPool *pool)
{
  g_return_val_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool), 0);

  return acpu_core_get_n_running (pool->core);
}

/**
 * acpu_process_task_pool_get_n_queued:
 * @pool: a [class@ACpu.ProcessTaskPool]
 *
 * Gets [property@ACpu.ProcessTaskPool:n-queued].
 *
 * Any thread may call it.
 *
 * Returns: the number of tasks waiting for a worker
 *
 * Since: 0.1
 */
guint
acpu_process_task_pool_get_n_queued (ACpuProcessTaskPool *pool)
{
  g_return_val_if_fail (ACPU_IS_PROCESS_TASK_POOL (pool), 0);

  return acpu_core_get_n_queued (pool->core);
}

