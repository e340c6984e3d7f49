/* acpu-worker-exit.c
 *
 * Copyright 2026 The asynccpu-glib authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* The facts of a worker's death, for callers that want them without parsing
 * the message of %ACPU_ERROR_WORKER_DIED: a GError carries a domain, a code
 * and a message, nothing else. Immutable once made, so any thread may read
 * one. */

#include "config.h"

#include "acpu-worker-exit-private.h"

/**
 * ACpuWorkerExit:
 *
 * How a worker process ended: its pid, its exit status or the signal that
 * killed it, the last lines it wrote to its standard error, and the task it
 * was running.
 *
 * A task that fails with %ACPU_ERROR_WORKER_DIED carries one; get it from
 * the task's [iface@Gio.AsyncResult] with
 * [method@ACpu.ProcessTaskPool.get_worker_exit]:
 *
 * ```c
 * value = acpu_process_task_pool_run_finish (pool, result, &error);
 * if (g_error_matches (error, ACPU_ERROR, ACPU_ERROR_WORKER_DIED))
 *   {
 *     g_autoptr(ACpuWorkerExit) exit = acpu_process_task_pool_get_worker_exit (pool, result);
 *
 *     g_print ("worker %d died of signal %d\n",
 *              acpu_worker_exit_get_pid (exit), acpu_worker_exit_get_signal (exit));
 *   }
 * ```
 *
 * It is immutable: its properties never change, and it may be read from
 * any thread.
 *
 * Since: 0.1
 */

struct _ACpuWorkerExit
{
  GObject  parent_instance;
  int      pid;
  int      signal;
  int      exit_status;
  char    *stderr_tail;
  char    *task_name;
};

enum {
  PROP_0,
  PROP_PID,
  PROP_EXITED,
  PROP_EXIT_STATUS,
  PROP_SIGNAL,
  PROP_STDERR_TAIL,
  PROP_TASK_NAME,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (ACpuWorkerExit, acpu_worker_exit, G_TYPE_OBJECT)

/* Any thread. */
static void
acpu_worker_exit_finalize (GObject *object)
{
  ACpuWorkerExit *self = (ACpuWorkerExit *) object;

  g_free (self->stderr_tail);
  g_free (self->task_name);

  G_OBJECT_CLASS (acpu_worker_exit_parent_class)->finalize (object);
}

/* Any thread. */
static void
acpu_worker_exit_get_property (GObject    *object,
                               guint       prop_id,
                               GValue     *value,
                               GParamSpec *pspec)
{
  ACpuWorkerExit *self = ACPU_WORKER_EXIT (object);

  switch (prop_id)
    {
    case PROP_PID:
      g_value_set_int (value, self->pid);
      break;
    case PROP_EXITED:
      g_value_set_boolean (value, acpu_worker_exit_get_exited (self));
      break;
    case PROP_EXIT_STATUS:
      g_value_set_int (value, self->exit_status);
      break;
    case PROP_SIGNAL:
      g_value_set_int (value, self->signal);
      break;
    case PROP_STDERR_TAIL:
      g_value_set_string (value, self->stderr_tail);
      break;
    case PROP_TASK_NAME:
      g_value_set_string (value, self->task_name);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

/* Any thread, once. */
static void
acpu_worker_exit_class_init (ACpuWorkerExitClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = acpu_worker_exit_finalize;
  object_class->get_property = acpu_worker_exit_get_property;

  /**
   * ACpuWorkerExit:pid:
   *
   * The worker's process id.
   *
   * Since: 0.1
   */
  properties[PROP_PID] =
    g_param_spec_int ("pid", NULL, NULL, 0, G_MAXINT, 0,
                      G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

  /**
   * ACpuWorkerExit:exited:
   *
   * Whether the worker exited by itself (then
   * [property@ACpu.WorkerExit:exit-status] says how) rather than being
   * killed by a signal.
   *
   * Since: 0.1
   */
  properties[PROP_EXITED] =
    g_param_spec_boolean ("exited", NULL, NULL, FALSE,
                          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

  /**
   * ACpuWorkerExit:exit-status:
   *
   * The worker's exit status, or -1 when it did not exit by itself.
   *
   * Since: 0.1
   */
  properties[PROP_EXIT_STATUS] =
    g_param_spec_int ("exit-status", NULL, NULL, -1, 255, -1,
                      G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

  /**
   * ACpuWorkerExit:signal:
   *
   * The signal that killed the worker (`SIGSEGV` is 11, `SIGKILL` 9), or 0
   * when it exited by itself.
   *
   * Since: 0.1
   */
  properties[PROP_SIGNAL] =
    g_param_spec_int ("signal", NULL, NULL, 0, G_MAXINT, 0,
                      G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

  /**
   * ACpuWorkerExit:stderr-tail:
   *
   * The last lines the worker wrote to its standard error, one per line,
   * as valid UTF-8 (other bytes escaped); empty when it wrote none.
   *
   * Since: 0.1
   */
  properties[PROP_STDERR_TAIL] =
    g_param_spec_string ("stderr-tail", NULL, NULL, "",
                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

  /**
   * ACpuWorkerExit:task-name:
   *
   * The name of the task the worker was running when it died.
   *
   * Since: 0.1
   */
  properties[PROP_TASK_NAME] =
    g_param_spec_string ("task-name", NULL, NULL, NULL,
                         G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

/* Any thread. */
static void
acpu_worker_exit_init (ACpuWorkerExit *self)
{
  self->exit_status = -1;
}

/* Any thread: see acpu-worker-exit-private.h. */
ACpuWorkerExit *
acpu_worker_exit_new (int         pid,
                      int         signal,
                      int         exit_status,
                      const char *stderr_tail,
                      const char *task_name)
{
  ACpuWorkerExit *self = g_object_new (ACPU_TYPE_WORKER_EXIT, NULL);

  self->pid = pid;
  self->signal = signal;
  self->exit_status = exit_status;
  self->stderr_tail = g_strdup (stderr_tail != NULL ? stderr_tail : "");
  self->task_name = g_strdup (task_name);
  return self;
}

/**
 * acpu_worker_exit_get_pid:
 * @self: a [class@ACpu.WorkerExit]
 *
 * Gets [property@ACpu.WorkerExit:pid].
 *
 * Returns: the worker's process id
 *
 * Since: 0.1
 */
int
acpu_worker_exit_get_pid (ACpuWorkerExit *self)
{
  g_return_val_if_fail (ACPU_IS_WORKER_EXIT (self), 0);

  return self->pid;
}

/**
 * acpu_worker_exit_get_exited:
 * @self: a [class@ACpu.WorkerExit]
 *
 * Gets [property@ACpu.WorkerExit:exited].
 *
 * Returns: whether the worker exited by itself
 *
 * Since: 0.1
 */
gboolean
acpu_worker_exit_get_exited (ACpuWorkerExit *self)
{
  g_return_val_if_fail (ACPU_IS_WORKER_EXIT (self), FALSE);

  return self->signal == 0 && self->exit_status >= 0;
}

/**
 * acpu_worker_exit_get_exit_status:
 * @self: a [class@ACpu.WorkerExit]
 *
 * Gets [property@ACpu.WorkerExit:exit-status].
 *
 * Returns: the exit status, or -1
 *
 * Since: 0.1
 */
int
acpu_worker_exit_get_exit_status (ACpuWorkerExit *self)
{
  g_return_val_if_fail (ACPU_IS_WORKER_EXIT (self), -1);

  return self->exit_status;
}

/**
 * acpu_worker_exit_get_signal:
 * @self: a [class@ACpu.WorkerExit]
 *
 * Gets [property@ACpu.WorkerExit:signal].
 *
 * Returns: the signal that killed the worker, or 0
 *
 * Since: 0.1
 */
int
acpu_worker_exit_get_signal (ACpuWorkerExit *self)
{
  g_return_val_if_fail (ACPU_IS_WORKER_EXIT (self), 0);

  return self->signal;
}

/**
 * acpu_worker_exit_get_stderr_tail:
 * @self: a [class@ACpu.WorkerExit]
 *
 * Gets [property@ACpu.WorkerExit:stderr-tail].
 *
 * Returns: (transfer none): the last lines of the worker's standard error
 *
 * Since: 0.1
 */
const char *
acpu_worker_exit_get_stderr_tail (ACpuWorkerExit *self)
{
  g_return_val_if_fail (ACPU_IS_WORKER_EXIT (self), NULL);

  return self->stderr_tail;
}

/**
 * acpu_worker_exit_get_task_name:
 * @self: a [class@ACpu.WorkerExit]
 *
 * Gets [property@ACpu.WorkerExit:task-name].
 *
 * Returns: (transfer none) (nullable): the task the worker was running
 *
 * Since: 0.1
 */
const char *
acpu_worker_exit_get_task_name (ACpuWorkerExit *self)
{
  g_return_val_if_fail (ACPU_IS_WORKER_EXIT (self), NULL);

  return self->task_name;
}
