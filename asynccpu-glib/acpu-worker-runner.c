/* acpu-worker-runner.c
 *
 * Copyright 2026 The asynccpu-glib authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* The task runner, on the worker's main thread: the jobs source that runs
 * the queued requests one at a time (and reads the channel while the thread
 * is idle), a task's reply, and what is written before the next task
 * function runs.
 */

#include "config.h"

#include <string.h>

#include "acpu-error.h"
#include "acpu-worker-private.h"

/* Main thread -------------------------------------------------------------- */

/* Main thread, no lock held (the reply takes out_lock): sends the job's
 * reply and frees it. Takes @result (a full or floating reference) and
 * @error. */
void
acpu_worker_finish_job (ACpuWorker    *self,
                        ACpuWorkerJob *job,
                        GVariant      *result,
                        GError        *error)
{
  g_autoptr(GVariant) owned = result != NULL ? g_variant_take_ref (result) : NULL;
  g_autoptr(GError) owned_error = error;
  gboolean more;

  self->current_name = NULL;

  /* A binding that cannot raise a GError from a callback said it this way. */
  if (self->task_error != NULL)
    {
      g_clear_pointer (&owned, g_variant_unref);
      g_clear_error (&owned_error);
      owned_error = g_steal_pointer (&self->task_error);
    }
  else if (owned == NULL && owned_error == NULL)
    owned_error = g_error_new (ACPU_ERROR, ACPU_ERROR_FAILED,
                               "Task “%s” returned neither a value nor an error", job->name);
  else if (owned_error != NULL &&
           g_strcmp0 (g_quark_to_string (owned_error->domain), "gjs-js-error-quark") == 0 &&
           strstr (owned_error->message, "for Return value") != NULL)
    {
      /* GJS could not make a GVariant of what a JavaScript task returned
       * ("Expected type struct for Return value but got type 'number'"):
       * say which task, and what it should return. */
      g_autofree char *gjs_message = g_steal_pointer (&owned_error->message);

      owned_error->message = g_strdup_printf ("Task “%s” must return a GLib.Variant, such as "
                                              "new GLib.Variant('(x)', [42]): %s", job->name,
                                              gjs_message);
    }
  else if (owned != NULL && owned_error == NULL)
    {
      ACpuWorkerTask *task = g_hash_table_lookup (self->tasks, job->name);

      if (task != NULL && task->result_type != NULL &&
          !g_variant_is_of_type (owned, task->result_type))
        {
          g_autofree char *expected = g_variant_type_dup_string (task->result_type);

          owned_error = g_error_new (ACPU_ERROR, ACPU_ERROR_INVALID_ARGUMENT,
                                     "Task “%s” returned a value of type %s, but it declares "
                                     "results of type %s", job->name,
                                     g_variant_get_type_string (owned), expected);
          g_clear_pointer (&owned, g_variant_unref);
        }
    }

  g_mutex_lock (&self->lock);
  self->current = NULL;
  more = self->pending.length > 0;
  g_rec_mutex_lock (&self->out_lock);
  /* The last report, if it waited, goes before the answer. */
  if (self->progress_pending)
    {
      acpu_wire_out_progress (&self->out, job->id, self->progress_fraction, self->progress_text);
      self->progress_pending = FALSE;
    }
  /* Arguments returned as they came need no copy: back in their memfd. */
  if (owned != NULL &&
      !acpu_wire_out_result_reuse (&self->out, job->id, owned, job->args, &job->args_fd) &&
      !acpu_wire_out_result (&self->out, job->id, owned, self->max_size, &owned_error))
    g_prefix_error (&owned_error, "Task “%s”: ", job->name);
  if (owned_error != NULL)
    acpu_wire_out_error (&self->out, job->id, owned_error);
  if (!more || acpu_wire_out_pending (&self->out) > 256 * 1024)
    acpu_worker_flush_locked (self);
  g_rec_mutex_unlock (&self->out_lock);
  g_mutex_unlock (&self->lock);

  acpu_worker_job_free (job);
}

/* Main thread, takes out_lock. Writes the replies batched so far, if any:
 * one write for all of them, none when there are none. */
static void
acpu_worker_flush_replies (ACpuWorker *self)
{
  g_rec_mutex_lock (&self->out_lock);
  if (acpu_wire_out_pending (&self->out) > 0)
    acpu_worker_flush_locked (self);
  g_rec_mutex_unlock (&self->out_lock);
}

/* Main thread, no lock: runs @job; returns FALSE when it is an
 * asynchronous task still running. */
static gboolean
acpu_worker_run_job (ACpuWorker    *self,
                     ACpuWorkerJob *job)
{
  ACpuWorkerTask *task = g_hash_table_lookup (self->tasks, job->name);
  GError *error = NULL;
  GVariant *result;

  if (task == NULL)
    {
      acpu_worker_finish_job (self, job, NULL,
                              g_error_new (ACPU_ERROR, ACPU_ERROR_UNKNOWN_TASK,
                                           "No task named “%s” in worker %s", job->name,
                                           g_get_prgname () ? g_get_prgname () : "(unknown)"));
      return TRUE;
    }

  if (task->args_type != NULL && !g_variant_is_of_type (job->args, task->args_type))
    {
      g_autofree char *expected = g_variant_type_dup_string (task->args_type);

      acpu_worker_finish_job (self, job, NULL,
                              g_error_new (ACPU_ERROR, ACPU_ERROR_INVALID_ARGUMENT,
                                           "Task “%s” takes arguments of type %s, not %s",
                                           job->name, expected,
                                           g_variant_get_type_string (job->args)));
      return TRUE;
    }

  /* What the tasks before this one answered goes now, before code that may
   * crash the process runs: a crash takes only its own task with it. */
  acpu_worker_flush_replies (self);

  self->current_name = job->name;
  g_clear_error (&self->task_error);

  if (task->async_func != NULL)
    {
      self->async_job = job;
      self->in_call = TRUE;
      task->async_func (self, job->args, job->cancellable, task->user_data);
      self->in_call = FALSE;
      /* Returned already, from inside the function? */
      return self->async_job == NULL;
    }

  self->in_call = TRUE;
  result = task->func (job->args, job->cancellable, task->user_data, &error);
  self->in_call = FALSE;
  acpu_worker_finish_job (self, job, result, error);

  return TRUE;
}

/* The jobs source needs no wakeup of its own thread: it is ready when there
 * is something to do, which prepare() sees; the control thread wakes the
 * context when it hands over work while this thread may sleep. It may
 * recurse, so that GLib does not take its descriptor out of the poll set and
 * put it back (two wakeups) around every dispatch; a task that iterates the
 * main context does not start the next task (see dispatching). */
static gboolean
acpu_worker_jobs_ready (ACpuWorker *self)
{
  gboolean ready;

  if (self->dispatching || self->async_job != NULL)
    return FALSE;
  if (self->in_poll.revents != 0)
    return TRUE;

  g_mutex_lock (&self->lock);
  /* busy here: an asynchronous task returned, and the next one may start. */
  ready = self->pending.length > 0 || self->hung_up || self->busy;
  g_mutex_unlock (&self->lock);

  return ready;
}

/* Main thread, the jobs source: reads the channel itself only while idle. */
static gboolean
acpu_worker_jobs_prepare (GSource *source,
                          gint    *timeout)
{
  ACpuWorker *self = ((ACpuWorkerSource *) source)->worker;

  /* Who reads the channel: this thread while it is idle, the control thread
   * while tasks run (busy). A hang-up is reported either way. */
  self->in_poll.events = self->busy ? 0 : G_IO_IN;
  *timeout = -1;
  return acpu_worker_jobs_ready (self);
}

/* Main thread, the jobs source. */
static gboolean
acpu_worker_jobs_check (GSource *source)
{
  return acpu_worker_jobs_ready (((ACpuWorkerSource *) source)->worker);
}

/* Main thread, the jobs source: reads what came, then runs the queued jobs. */
static gboolean
acpu_worker_jobs_dispatch (GSource     *source,
                           GSourceFunc  callback,
                           gpointer     user_data)
{
  ACpuWorker *self = ((ACpuWorkerSource *) source)->worker;

  if (self->dispatching)
    return G_SOURCE_CONTINUE;
  self->dispatching = TRUE;

  if (self->in_poll.revents != 0)
    {
      self->in_poll.revents = 0;
      acpu_worker_read_channel (self);
    }

  for (;;)
    {
      ACpuWorkerJob *job;

      /* An asynchronous task is running: the next one waits for it. */
      if (self->async_job != NULL)
        break;

      g_mutex_lock (&self->lock);
      if (self->hung_up)
        {
          g_main_loop_quit (self->loop);
          g_mutex_unlock (&self->lock);
          break;
        }
      job = g_queue_pop_head (&self->pending);
      self->current = job;
      /* Each task has the whole window for its partial values. */
      self->partial_unacked = 0;
      self->partial_unacked_bytes = 0;
      self->progress_sent = 0;
      self->progress_pending = FALSE;
      if (job != NULL && !self->busy)
        {
          /* The control thread reads until the queue is empty again. */
          self->busy = TRUE;
          acpu_worker_arm_control (self);
        }
      else if (job == NULL && self->busy)
        {
          self->busy = FALSE;
          acpu_worker_kick_control_locked (self);
        }
      g_mutex_unlock (&self->lock);

      if (job == NULL)
        break;

      if (!acpu_worker_run_job (self, job))
        break;
    }

  self->dispatching = FALSE;
  return G_SOURCE_CONTINUE;
}

GSourceFuncs acpu_worker_jobs_source_funcs = {
  .prepare = acpu_worker_jobs_prepare,
  .check = acpu_worker_jobs_check,
  .dispatch = acpu_worker_jobs_dispatch,
};

