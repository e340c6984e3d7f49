/* acpu-worker-private.h
 *
 * Copyright 2026 The asynccpu-glib authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* What the files of the worker side share: the worker's struct (each field
 * says which thread owns it or which lock guards it; the lock order is
 * in_lock, then lock, then out_lock) and their functions, by file. */

#pragma once

#ifndef PACKAGE_STRING
# error "config.h must be included before acpu-worker-private.h"
#endif

#include <sys/types.h>

#include "acpu-wire-private.h"
#include "acpu-worker.h"

G_BEGIN_DECLS

/* How long tasks run before the control thread reads the channel for them. */
#define CONTROL_DELAY_US 1000
/* How often the control thread looks whether its parent is still the one
 * that started it (a launcher killed may leave the channel open). */
#define PARENT_POLL_MS 500

typedef struct
{
  ACpuTaskFunc      func;
  ACpuAsyncTaskFunc async_func;
  gpointer          user_data;
  GDestroyNotify    user_data_free;
  GVariantType     *args_type;    /* declared, or NULL: any */
  GVariantType     *result_type;  /* declared, or NULL: any */
} ACpuWorkerTask;

typedef struct
{
  guint64       id;
  char         *name;
  GVariant     *args;
  int           args_fd;      /* the memfd args came in, or -1 */
  GCancellable *cancellable;
} ACpuWorkerJob;

struct _ACpuWorker
{
  GObject         parent_instance;

  GHashTable     *tasks;         /* name → ACpuWorkerTask */

  /* While running. */
  int             in_fd;
  int             out_fd;
  guint64         max_size;
  GMainContext   *context;
  GMainLoop      *loop;
  GSource        *jobs_source;
  GThread        *control;
  const char     *current_name;  /* main thread only */
  GError         *task_error;    /* main thread only: acpu_worker_set_task_error() */
  ACpuWorkerJob  *async_job;     /* main thread only: an asynchronous task not yet returned */
  gboolean        in_call;       /* main thread only: inside a task function */
  GPollFD         in_poll;       /* main thread only: in_fd in jobs_source */
  gboolean        dispatching;   /* main thread only: inside the jobs source */
  int             wake_fd;       /* eventfd: the control thread stops reading, or ends */
  int             timer_fd;      /* timerfd: the control thread starts reading */
  pid_t           parent;        /* getppid() at start-up */
  gint64          timer_armed;   /* main thread only: when timer_fd was last armed */
  /* The running task's progress, main thread only: when a PROGRESS last
   * went, and the latest report not sent yet (progress_pending). */
  gint64          progress_sent;
  gboolean        progress_pending;
  double          progress_fraction;
  char           *progress_text;

  GMutex          in_lock;       /* guards in and in_ended; taken before lock */
  ACpuWireIn      in;
  gboolean        in_ended;
  guint64         in_messages;   /* messages read so far */
  gboolean        started_by_env; /* ACPU_WORKER=1 was set: for the words on a bad channel */

  GMutex          lock;          /* guards what follows */
  GQueue          pending;       /* ACpuWorkerJob */
  ACpuWorkerJob  *current;
  gboolean        busy;          /* the main thread is running tasks: the control thread reads;
                                  * written by the main thread only, which may read it unlocked */
  gboolean        control_polling;
  gboolean        hung_up;
  int             status;
  /* The running task's partial values not yet acknowledged by the pool
   * (ACPU_WIRE_PARTIAL_WINDOW); partial_cond tells a task waiting for room. */
  guint           partial_unacked;
  guint64         partial_unacked_bytes;
  GCond           partial_cond;

  GRecMutex       out_lock;      /* guards out; taken after lock, never before */
  ACpuWireOut     out;
  gboolean        out_broken;
};

typedef struct
{
  GSource     source;
  ACpuWorker *worker;
} ACpuWorkerSource;

/* acpu-worker.c */
extern ACpuWorker *acpu_worker_running;
void      acpu_worker_job_free             (ACpuWorkerJob   *job);

/* acpu-worker-channel.c */
void      acpu_worker_flush_locked         (ACpuWorker      *self);
void      acpu_worker_say                  (const char      *text);
GLogWriterOutput acpu_worker_log_writer    (GLogLevelFlags   log_level,
                                            const GLogField *fields,
                                            gsize            n_fields,
                                            gpointer         user_data);
void      acpu_worker_hang_up              (ACpuWorker      *self,
                                            gboolean         ok,
                                            const char      *what);
void      acpu_worker_read_channel         (ACpuWorker      *self);

/* acpu-worker-runner.c */
extern GSourceFuncs acpu_worker_jobs_source_funcs;
void      acpu_worker_finish_job           (ACpuWorker      *self,
                                            ACpuWorkerJob   *job,
                                            GVariant        *result,
                                            GError          *error);

/* acpu-worker-control.c */
void      acpu_worker_signal_control       (ACpuWorker      *self);
void      acpu_worker_kick_control_locked  (ACpuWorker      *self);
void      acpu_worker_arm_control          (ACpuWorker      *self);
void      acpu_worker_kill_group_members   (void);
gpointer  acpu_worker_control_thread       (gpointer         data);
void      acpu_worker_die_with_parent      (void);
void      acpu_worker_name_self            (void);

/* acpu-worker-stdio.c */
gboolean  acpu_worker_take_stdio           (ACpuWorker      *self,
                                            const char     **problem);

G_END_DECLS
