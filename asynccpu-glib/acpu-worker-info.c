/* acpu-worker-info.c
 *
 * Copyright 2026 The asynccpu-glib authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* One worker process in a pool's worker model
 * (acpu_process_task_pool_get_workers()): made, updated and notified only in
 * the pool creator's context [owner], from the table the I/O thread
 * publishes (acpu-pool-stats.c). */

#include "config.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "acpu-enum-types.h"
#include "acpu-worker-info-private.h"

/**
 * ACpuWorkerInfo:
 *
 * One worker process of a [class@ACpu.ProcessTaskPool], as an item of the
 * list model [method@ACpu.ProcessTaskPool.get_workers] returns: its pid, its
 * state, the task it runs, how many tasks it has done, and the CPU time and
 * memory it uses.
 *
 * Its properties change, and are notified, in the main context that was the
 * thread default when the pool was made, so a `GtkColumnView` can show them
 * directly with `GtkExpression`s or bindings.
 *
 * Since: 0.1
 */

struct _ACpuWorkerInfo
{
  GObject          parent_instance;
  GPid             pid;
  ACpuWorkerState  state;
  char            *task_name;
  guint            tasks_done;
  double           cpu_time;
  guint64          rss;
  gint64           read_time;  /* when /proc was last read, monotonic µs */
};

/* A worker that finished tasks shows their CPU time at once, rather than
 * at the pool's next once-a-second read, but /proc is read at most this
 * often for it. */
#define READ_AFTER_TASKS_US (100 * 1000)

enum {
  PROP_0,
  PROP_PID,
  PROP_STATE,
  PROP_TASK_NAME,
  PROP_TASKS_DONE,
  PROP_CPU_TIME,
  PROP_RSS,
  N_PROPS
};

static GParamSpec *properties[N_PROPS];

G_DEFINE_FINAL_TYPE (ACpuWorkerInfo, acpu_worker_info, G_TYPE_OBJECT)

/* [owner] */
static void
acpu_worker_info_finalize (GObject *object)
{
  ACpuWorkerInfo *self = (ACpuWorkerInfo *) object;

  g_free (self->task_name);

  G_OBJECT_CLASS (acpu_worker_info_parent_class)->finalize (object);
}

/* [owner] */
static void
acpu_worker_info_get_property (GObject    *object,
                               guint       prop_id,
                               GValue     *value,
                               GParamSpec *pspec)
{
  ACpuWorkerInfo *self = (ACpuWorkerInfo *) object;

  switch (prop_id)
    {
    case PROP_PID:
      g_value_set_int (value, self->pid);
      break;
    case PROP_STATE:
      g_value_set_enum (value, self->state);
      break;
    case PROP_TASK_NAME:
      g_value_set_string (value, self->task_name);
      break;
    case PROP_TASKS_DONE:
      g_value_set_uint (value, self->tasks_done);
      break;
    case PROP_CPU_TIME:
      g_value_set_double (value, self->cpu_time);
      break;
    case PROP_RSS:
      g_value_set_uint64 (value, self->rss);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
    }
}

static void
acpu_worker_info_class_init (ACpuWorkerInfoClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = acpu_worker_info_finalize;
  object_class->get_property = acpu_worker_info_get_property;

  /**
   * ACpuWorkerInfo:pid:
   *
   * The worker's process id (0 if it could not be started).
   *
   * Since: 0.1
   */
  properties[PROP_PID] =
    g_param_spec_int ("pid", NULL, NULL, 0, G_MAXINT, 0,
                      (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * ACpuWorkerInfo:state:
   *
   * What the worker is doing.
   *
   * Since: 0.1
   */
  properties[PROP_STATE] =
    g_param_spec_enum ("state", NULL, NULL, ACPU_TYPE_WORKER_STATE, ACPU_WORKER_STATE_STARTING,
                       (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * ACpuWorkerInfo:task-name:
   *
   * The name of the task the worker runs, or `NULL` when it runs none.
   *
   * Since: 0.1
   */
  properties[PROP_TASK_NAME] =
    g_param_spec_string ("task-name", NULL, NULL, NULL,
                         (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * ACpuWorkerInfo:tasks-done:
   *
   * How many tasks the worker has answered.
   *
   * Since: 0.1
   */
  properties[PROP_TASKS_DONE] =
    g_param_spec_uint ("tasks-done", NULL, NULL, 0, G_MAXUINT, 0,
                       (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * ACpuWorkerInfo:cpu-time:
   *
   * The CPU time the worker process has used, user and system, in seconds,
   * read from `/proc/PID/stat` about once a second.
   *
   * Since: 0.1
   */
  properties[PROP_CPU_TIME] =
    g_param_spec_double ("cpu-time", NULL, NULL, 0, G_MAXDOUBLE, 0,
                         (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  /**
   * ACpuWorkerInfo:rss:
   *
   * The worker process's resident memory in bytes, read from
   * `/proc/PID/statm` about once a second.
   *
   * Since: 0.1
   */
  properties[PROP_RSS] =
    g_param_spec_uint64 ("rss", NULL, NULL, 0, G_MAXUINT64, 0,
                         (G_PARAM_READABLE | G_PARAM_EXPLICIT_NOTIFY | G_PARAM_STATIC_STRINGS));

  g_object_class_install_properties (object_class, N_PROPS, properties);
}

static void
acpu_worker_info_init (ACpuWorkerInfo *self)
{
}

/* [owner]: a worker's item, starting. */
ACpuWorkerInfo *
acpu_worker_info_new (GPid pid)
{
  ACpuWorkerInfo *self = g_object_new (ACPU_TYPE_WORKER_INFO, NULL);

  self->pid = pid;
  return self;
}

/* [owner]: sets what changed, and notifies it; when tasks were done since
 * the last look, reads /proc again too (at most every
 * READ_AFTER_TASKS_US). */
void
acpu_worker_info_update (ACpuWorkerInfo  *self,
                         ACpuWorkerState  state,
                         const char      *task_name,
                         guint            tasks_done)
{
  g_object_freeze_notify (G_OBJECT (self));
  if (self->state != state)
    {
      self->state = state;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_STATE]);
    }
  if (g_strcmp0 (self->task_name, task_name) != 0)
    {
      g_free (self->task_name);
      self->task_name = g_strdup (task_name);
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_TASK_NAME]);
    }
  if (self->tasks_done != tasks_done)
    {
      self->tasks_done = tasks_done;
      g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_TASKS_DONE]);
      if (g_get_monotonic_time () - self->read_time >= READ_AFTER_TASKS_US)
        acpu_worker_info_read_proc (self);
    }
  g_object_thaw_notify (G_OBJECT (self));
}

/* [owner]: reads the process's CPU time (fields 14 and 15 of
 * /proc/PID/stat, after the command name in parentheses) and RSS (field 2
 * of /proc/PID/statm, in pages). A process that is gone keeps its last
 * figures. */
void
acpu_worker_info_read_proc (ACpuWorkerInfo *self)
{
  g_autofree char *stat = NULL;
  g_autofree char *statm = NULL;
  char path[64];
  const char *p;

  if (self->pid <= 0)
    return;

  self->read_time = g_get_monotonic_time ();
  g_snprintf (path, sizeof path, "/proc/%d/stat", (int) self->pid);
  if (g_file_get_contents (path, &stat, NULL, NULL) && (p = strrchr (stat, ')')) != NULL)
    {
      unsigned long long utime = 0, stime = 0;

      /* After ") ": state(3) ppid pgrp session tty tpgid flags minflt cminflt
       * majflt cmajflt utime(14) stime(15). */
      if (sscanf (p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
                  &utime, &stime) == 2)
        {
          double cpu = (double) (utime + stime) / (double) sysconf (_SC_CLK_TCK);

          if (cpu != self->cpu_time)
            {
              self->cpu_time = cpu;
              g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_CPU_TIME]);
            }
        }
    }

  g_snprintf (path, sizeof path, "/proc/%d/statm", (int) self->pid);
  if (g_file_get_contents (path, &statm, NULL, NULL))
    {
      unsigned long long size = 0, resident = 0;

      if (sscanf (statm, "%llu %llu", &size, &resident) == 2)
        {
          guint64 rss = (guint64) resident * (guint64) sysconf (_SC_PAGESIZE);

          if (rss != self->rss)
            {
              self->rss = rss;
              g_object_notify_by_pspec (G_OBJECT (self), properties[PROP_RSS]);
            }
        }
    }
}

/**
 * acpu_worker_info_get_pid:
 * @info: a [class@ACpu.WorkerInfo]
 *
 * Gets [property@ACpu.WorkerInfo:pid].
 *
 * Returns: the worker's process id
 *
 * Since: 0.1
 */
GPid
acpu_worker_info_get_pid (ACpuWorkerInfo *info)
{
  g_return_val_if_fail (ACPU_IS_WORKER_INFO (info), 0);
  return info->pid;
}

/**
 * acpu_worker_info_get_state:
 * @info: a [class@ACpu.WorkerInfo]
 *
 * Gets [property@ACpu.WorkerInfo:state].
 *
 * Returns: what the worker is doing
 *
 * Since: 0.1
 */
ACpuWorkerState
acpu_worker_info_get_state (ACpuWorkerInfo *info)
{
  g_return_val_if_fail (ACPU_IS_WORKER_INFO (info), ACPU_WORKER_STATE_STARTING);
  return info->state;
}

/**
 * acpu_worker_info_get_task_name:
 * @info: a [class@ACpu.WorkerInfo]
 *
 * Gets [property@ACpu.WorkerInfo:task-name].
 *
 * Returns: (nullable): the name of the task the worker runs
 *
 * Since: 0.1
 */
const char *
acpu_worker_info_get_task_name (ACpuWorkerInfo *info)
{
  g_return_val_if_fail (ACPU_IS_WORKER_INFO (info), NULL);
  return info->task_name;
}

/**
 * acpu_worker_info_get_tasks_done:
 * @info: a [class@ACpu.WorkerInfo]
 *
 * Gets [property@ACpu.WorkerInfo:tasks-done].
 *
 * Returns: how many tasks the worker has answered
 *
 * Since: 0.1
 */
guint
acpu_worker_info_get_tasks_done (ACpuWorkerInfo *info)
{
  g_return_val_if_fail (ACPU_IS_WORKER_INFO (info), 0);
  return info->tasks_done;
}

/**
 * acpu_worker_info_get_cpu_time:
 * @info: a [class@ACpu.WorkerInfo]
 *
 * Gets [property@ACpu.WorkerInfo:cpu-time].
 *
 * Returns: the CPU time used, in seconds
 *
 * Since: 0.1
 */
double
acpu_worker_info_get_cpu_time (ACpuWorkerInfo *info)
{
  g_return_val_if_fail (ACPU_IS_WORKER_INFO (info), 0);
  return info->cpu_time;
}

/**
 * acpu_worker_info_get_rss:
 * @info: a [class@ACpu.WorkerInfo]
 *
 * Gets [property@ACpu.WorkerInfo:rss].
 *
 * Returns: the resident memory in bytes
 *
 * Since: 0.1
 */
guint64
acpu_worker_info_get_rss (ACpuWorkerInfo *info)
{
  g_return_val_if_fail (ACPU_IS_WORKER_INFO (info), 0);
  return info->rss;
}
