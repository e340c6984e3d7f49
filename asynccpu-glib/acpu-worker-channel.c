/* acpu-worker-channel.c
 *
 * Copyright 2026 The asynccpu-glib authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* The channel, as the worker sees it: what it writes (flushing, an error
 * reply, the log writer that sends the process's log records to the pool)
 * and what it reads (requests queued, cancels, acks; the end of the channel,
 * and what the worker says and does when the channel is of no use).
 * Called from the main thread and the control thread (acpu-worker.c says who
 * reads when); each function says which lock it needs.
 */

#include "config.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "acpu-worker-private.h"

/* Writing ------------------------------------------------------------------ */

/* Called with out_lock held. On failure the pool is gone: stop writing. */
void
acpu_worker_flush_locked (ACpuWorker *self)
{
  g_autoptr(GError) error = NULL;

  if (self->out_broken)
    return;

  if (!acpu_wire_out_flush (&self->out, self->out_fd, &error))
    {
      self->out_broken = TRUE;
      g_byte_array_set_size (self->out.buf, 0);
      self->out.head = 0;
    }
}

/* Either thread; takes out_lock: answers request @id with @error. */
static void
acpu_worker_send_error (ACpuWorker   *self,
                        guint64       id,
                        const GError *error)
{
  g_rec_mutex_lock (&self->out_lock);
  acpu_wire_out_error (&self->out, id, error);
  acpu_worker_flush_locked (self);
  g_rec_mutex_unlock (&self->out_lock);
}

/* Any thread that logs, no lock held (takes lock, then out_lock): the
 * process's GLib log writer while a worker runs; a record goes to the pool
 * over the channel, or to the default writer when there is none. */
GLogWriterOutput
acpu_worker_log_writer (GLogLevelFlags   log_level,
                        const GLogField *fields,
                        gsize            n_fields,
                        gpointer         user_data)
{
  static GPrivate in_writer;
  ACpuWorker *self = acpu_worker_running;
  guint64 id = 0;

  if (self == NULL || self->out_broken || g_private_get (&in_writer) != NULL)
    return g_log_writer_default (log_level, fields, n_fields, user_data);

  if (g_log_writer_default_would_drop (log_level, NULL) &&
      !(log_level & (G_LOG_LEVEL_ERROR | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING)))
    {
      const char *domain = NULL;

      for (gsize i = 0; i < n_fields; i++)
        if (g_strcmp0 (fields[i].key, "GLIB_DOMAIN") == 0)
          domain = fields[i].value;
      if (g_log_writer_default_would_drop (log_level, domain))
        return G_LOG_WRITER_HANDLED;
    }

  g_private_set (&in_writer, GINT_TO_POINTER (1));

  g_mutex_lock (&self->lock);
  if (self->current != NULL)
    id = self->current->id;
  g_mutex_unlock (&self->lock);

  g_rec_mutex_lock (&self->out_lock);
  acpu_wire_out_log (&self->out, id, log_level, fields, n_fields);
  /* Fatal records must be out before the process aborts. */
  if ((log_level & G_LOG_FLAG_FATAL) || acpu_wire_out_pending (&self->out) > 64 * 1024 ||
      !self->in_call)
    acpu_worker_flush_locked (self);
  g_rec_mutex_unlock (&self->out_lock);

  g_private_set (&in_writer, NULL);

  return G_LOG_WRITER_HANDLED;
}

/* Reading the channel ------------------------------------------------------ */

/* Called with lock held. */
static void
acpu_worker_cancel_locked (ACpuWorker *self,
                           guint64     id)
{
  if (self->current != NULL && self->current->id == id)
    {
      g_cancellable_cancel (self->current->cancellable);
      return;
    }

  for (GList *l = self->pending.head; l != NULL; l = l->next)
    {
      ACpuWorkerJob *job = l->data;

      if (job->id == id)
        {
          g_autoptr(GError) error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED,
                                                         "Operation was cancelled");
          g_queue_delete_link (&self->pending, l);
          acpu_worker_send_error (self, id, error);
          acpu_worker_job_free (job);
          return;
        }
    }
  /* Already answered: the reply is on its way, and it is the pool's to drop. */
}

/* Called with lock held. */
static void
acpu_worker_take_message_locked (ACpuWorker      *self,
                                 ACpuWireMessage *msg)
{
  if (msg->type == ACPU_WIRE_REQUEST)
    {
      ACpuWorkerJob *job = g_new0 (ACpuWorkerJob, 1);

      job->id = msg->id;
      job->name = g_strdup (msg->name);
      job->args = g_steal_pointer (&msg->value);
      job->args_fd = msg->fd;
      msg->fd = -1;
      job->cancellable = g_cancellable_new ();
      g_queue_push_tail (&self->pending, job);
      /* The main thread runs it when it is done with what it does now, or
       * it is idle and must be woken: this came in on the control thread
       * just as the main thread went back to watching the channel. */
      if (!self->busy && !g_main_context_is_owner (self->context))
        g_main_context_wakeup (self->context);
    }
  else if (msg->type == ACPU_WIRE_CANCEL)
    {
      acpu_worker_cancel_locked (self, msg->id);
      /* A task waiting for room for a partial value stops waiting. */
      g_cond_broadcast (&self->partial_cond);
    }
  else if (msg->type == ACPU_WIRE_ACK)
    {
      /* Acks of an earlier task's values are stale: each task starts with
       * the whole window. */
      if (self->current != NULL && self->current->id == msg->id)
        {
          self->partial_unacked -= MIN (msg->ack_count, self->partial_unacked);
          self->partial_unacked_bytes -= MIN (msg->ack_bytes, self->partial_unacked_bytes);
          g_cond_broadcast (&self->partial_cond);
        }
    }
}

/* Either thread, no lock. Writes @text to stderr once, neither waiting nor
 * dying of it, for a worker on its way out: the reader may be the pool that
 * just died (a write would raise SIGPIPE and end this process before it has
 * killed its group), or a full pipe nobody reads any more. A text that
 * stderr does not take at once is lost. */
void
acpu_worker_say (const char *text)
{
  struct pollfd pfd = { .fd = 2, .events = POLLOUT };

  if (poll (&pfd, 1, 0) != 1 || pfd.revents != POLLOUT)
    return;
  acpu_wire_write_no_sigpipe (2, text, strlen (text));
}

/* Either thread, with in_lock held (it reads in_messages). Says on stderr
 * why the channel is of no use, in words for a person who ran a worker
 * program by hand or with an inherited ACPU_WORKER=1. */
static void
acpu_worker_channel_unusable (ACpuWorker *self,
                              const char *what)
{
  const char *prgname = g_get_prgname () ? g_get_prgname () : "acpu-worker";
  g_autofree char *text = NULL;

  if (self->in_messages > 0)
    text = g_strdup_printf ("%s: %s\n", prgname, what);
  else
    text = g_strdup_printf ("%s: %s, before a single message: standard input does not speak "
                            "the asynccpu-glib protocol%s\n", prgname, what,
                            self->started_by_env ? " (ACPU_WORKER=1 inherited by a program "
                                                   "that no pool started?)" : "");
  acpu_worker_say (text);
}

/* Either thread, with in_lock held; takes lock. The pool has hung up, or
 * the channel is of no use (@what says why, or is NULL). What the tasks
 * started goes first (acpu_worker_kill_group_members()), then the words: a
 * pool that died may have taken the reader of our stderr along. A task
 * still running has nobody to report to and may never look at its
 * cancellable: end the process now. */
void
acpu_worker_hang_up (ACpuWorker *self,
                     gboolean    ok,
                     const char *what)
{
  acpu_worker_kill_group_members ();
  if (what != NULL)
    acpu_worker_channel_unusable (self, what);
  g_mutex_lock (&self->lock);
  if (self->current != NULL)
    _exit (ok ? 0 : 1);
  self->hung_up = TRUE;
  self->status = ok ? 0 : 1;
  self->control_polling = FALSE;
  acpu_worker_signal_control (self);
  if (!g_main_context_is_owner (self->context))
    g_main_context_wakeup (self->context);
  g_mutex_unlock (&self->lock);
}

/* Main thread while it is idle, control thread while a task runs; takes
 * in_lock, then lock for each message. Reads what the channel has and takes
 * each message in it; a thread that finds nothing to read (the other was
 * first) returns at once. The end of the channel between
 * frames is the pool hanging up (exit status 0); in the middle of a frame,
 * before the pool's first frame, or bytes that are not the protocol, end the
 * worker with status 1 and a word on stderr. */
void
acpu_worker_read_channel (ACpuWorker *self)
{
  g_autoptr(GError) error = NULL;
  ACpuWireMessage msg;
  gssize n;

  g_mutex_lock (&self->in_lock);
  if (self->in_ended)
    goto out;

  n = acpu_wire_in_read (&self->in, self->in_fd, &error);
  if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
    goto out;
  if (n <= 0)
    {
      self->in_ended = TRUE;
      if (self->in.buf->len != self->in.head)
        acpu_worker_hang_up (self, FALSE, "the channel ended in the middle of a frame");
      else if (self->in_messages == 0)
        /* A pool greets its worker first thing (an ACK for id 0, see
         * docs/protocol.md): an input that ends before any frame came is
         * an empty pipe, not a pool. */
        acpu_worker_hang_up (self, FALSE, "standard input ended");
      else
        acpu_worker_hang_up (self, TRUE, NULL);
      goto out;
    }

  while (acpu_wire_in_next (&self->in, &msg, &error))
    {
      self->in_messages++;
      g_mutex_lock (&self->lock);
      acpu_worker_take_message_locked (self, &msg);
      g_mutex_unlock (&self->lock);
      acpu_wire_message_clear (&msg);
    }

  if (error != NULL)
    {
      /* The pool speaks the protocol or nothing: stop serving. */
      self->in_ended = TRUE;
      acpu_worker_hang_up (self, FALSE, error->message);
    }

out:
  g_mutex_unlock (&self->in_lock);
}

