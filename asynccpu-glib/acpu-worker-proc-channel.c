/* acpu-worker-proc-channel.c
 *
 * Copyright 2026 The asynccpu-glib authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* The worker handle's channel, as the pool sees it (acpu-worker-proc.c is
 * the handle's life): what the worker sends is read, parsed by the wire
 * reader (acpu-wire.c), checked against the handshake and the partial
 * values' window, and delivered through the handle's callbacks, in the
 * order it came; a value in a large memfd is mapped and checked on a thread
 * of its own first (acpu_worker_proc_load_start()). A frame that stays open
 * too long ends the worker. Requests, cancels and acks are written from any
 * thread under out_lock; a caller of the direct path may read its own reply
 * (acpu_worker_proc_claim_reply()) under in_lock.
 *
 * Threads: the I/O thread unless a comment says otherwise; locks as in
 * acpu-worker-proc-private.h.
 */

#include "config.h"

#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <glib-unix.h>

#include "acpu-checks-private.h"
#include "acpu-error.h"
#include "acpu-error-private.h"
#include "acpu-wire-private.h"
#include "acpu-worker-proc-private.h"

/* Log records a worker may send per second, and the I/O thread's time it
 * may take to relay them (all pools share that thread); past either, the
 * rest of the second's records are counted and dropped. */
#define MAX_LOGS_PER_SECOND 2000
#define MAX_LOG_US_PER_SECOND (100 * 1000)
/* A frame in progress must grow by this much, or end, within each
 * handshake-timeout period (acpu_worker_proc_watch_stall()). */
#define STALL_PROGRESS_BYTES (64 * 1024)
/* How much of what a non-worker wrote goes into the message. */
#define EXCERPT_BYTES 32

static void acpu_worker_proc_poll_channel (ACpuWorkerProc *self,
                                           gboolean        poll);

/* Reading ------------------------------------------------------------------ */

/* [io]: in in_lock (as every message). The hello's names come validated by the
 * wire reader: non-empty, bounded, UTF-8 (GVariant's normal form). */
static void
acpu_worker_proc_handle_hello (ACpuWorkerProc  *self,
                               ACpuWireMessage *msg)
{
  if (self->ready || self->awaiting_types)
    {
      acpu_worker_proc_fail (self, ACPU_ERROR_PROTOCOL, "it sent a second hello");
      return;
    }

  if (msg->version != ACPU_WIRE_VERSION)
    {
      g_autofree char *what = g_strdup_printf ("it speaks protocol version %u, not %u",
                                               msg->version, ACPU_WIRE_VERSION);
      acpu_worker_proc_fail (self, ACPU_ERROR_WORKER_START, what);
      return;
    }

  self->out.can_pass_fds = (msg->flags & ACPU_WIRE_HELLO_CAN_RECEIVE_FDS) != 0 &&
                          (self->launcher == NULL || acpu_launcher_get_pass_fds (self->launcher));
  self->task_names = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  for (guint i = 0; msg->names[i] != NULL; i++)
    g_hash_table_add (self->task_names, g_strdup (msg->names[i]));

  /* Its task types come next: it is ready once they have. */
  if (msg->flags & ACPU_WIRE_HELLO_TYPES)
    {
      self->awaiting_types = TRUE;
      return;
    }

  self->ready = TRUE;
  acpu_worker_proc_clear_timer (self);
  self->callbacks.ready (self, self->user_data);
}

/* [io]: in in_lock. The TYPES frame a hello announced: the names and type
 * strings come validated by the wire reader; a name it did not register in
 * the hello breaks the protocol. */
static void
acpu_worker_proc_handle_types (ACpuWorkerProc  *self,
                               ACpuWireMessage *msg)
{
  GVariantIter iter;
  const char *name, *args_type, *result_type;

  if (!self->awaiting_types)
    {
      acpu_worker_proc_fail (self, ACPU_ERROR_PROTOCOL,
                             "it sent task types not right after a hello that announced them");
      return;
    }

  self->awaiting_types = FALSE;
  self->task_types = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                            (GDestroyNotify) g_strfreev);
  g_variant_iter_init (&iter, msg->types);
  while (g_variant_iter_next (&iter, "(&s&s&s)", &name, &args_type, &result_type))
    {
      char *types[] = { g_strdup (args_type), g_strdup (result_type), NULL };

      if (!g_hash_table_contains (self->task_names, name))
        {
          g_free (types[0]);
          g_free (types[1]);
          acpu_worker_proc_fail (self, ACPU_ERROR_PROTOCOL,
                                 "it sent the types of a task it did not register");
          return;
        }
      g_hash_table_replace (self->task_types, g_strdup (name), g_strdupv (types));
      g_free (types[0]);
      g_free (types[1]);
    }

  self->ready = TRUE;
  acpu_worker_proc_clear_timer (self);
  self->callbacks.ready (self, self->user_data);
}

/* [io], in in_lock; takes out_lock. A partial value counts against the
 * window of its request (the worker starts a new window with each request):
 * a worker that sends past it, not waiting for our acks, breaks the
 * protocol and could grow our memory without bound. */
static void
acpu_worker_proc_handle_partial (ACpuWorkerProc  *self,
                                 ACpuWireMessage *msg)
{
  gsize size = g_variant_get_size (msg->value);
  gboolean over;

  g_mutex_lock (&self->out_lock);
  if (self->partial_id != msg->id)
    {
      self->partial_id = msg->id;
      self->partial_unacked = 0;
      self->partial_unacked_bytes = 0;
    }
  over = self->partial_unacked >= ACPU_WIRE_PARTIAL_WINDOW ||
         (self->partial_unacked > 0 &&
          self->partial_unacked_bytes + size > ACPU_WIRE_PARTIAL_WINDOW_BYTES);
  if (!over)
    {
      self->partial_unacked++;
      self->partial_unacked_bytes += size;
    }
  g_mutex_unlock (&self->out_lock);

  if (over)
    {
      acpu_worker_proc_fail (self, ACPU_ERROR_PROTOCOL,
                             "it sent partial values past the window the pool acknowledged");
      return;
    }

  if (self->callbacks.partial != NULL)
    self->callbacks.partial (self, msg->id, msg->value, self->user_data);
  else
    acpu_worker_proc_ack (self, msg->id, 1, size);
}

/* [io]: delivers one message, in in_lock. Strings in it are UTF-8: the wire
 * reader loads bodies as untrusted GVariants in normal form. */
static void
acpu_worker_proc_handle (ACpuWorkerProc  *self,
                         ACpuWireMessage *msg)
{
  if (msg->type == ACPU_WIRE_HELLO)
    {
      acpu_worker_proc_handle_hello (self, msg);
      return;
    }
  if (msg->type == ACPU_WIRE_TYPES)
    {
      acpu_worker_proc_handle_types (self, msg);
      return;
    }

  if (!self->ready)
    {
      acpu_worker_proc_fail (self, ACPU_ERROR_WORKER_START, "it sent a message before the handshake");
      return;
    }

  switch (msg->type)
    {
    case ACPU_WIRE_RESULT:
      self->callbacks.reply (self, msg->id, msg->value, NULL, self->user_data);
      break;

    case ACPU_WIRE_ERROR:
      {
        g_autoptr(GError) error = acpu_error_new_remote (&self->new_domains, msg->domain,
                                                         msg->code, msg->message);
        self->callbacks.reply (self, msg->id, NULL, error, self->user_data);
      }
      break;

    case ACPU_WIRE_LOG:
      {
        gint64 now = g_get_monotonic_time ();

        /* A worker that floods the log costs us little: count and drop.
         * Counting records alone is not enough where relaying one is slow
         * (a busy machine, a sanitizer, a slow log writer): then the
         * records come in slower than the limit while the I/O thread does
         * nothing else, so its time is counted too. */
        if (now - self->log_window_start >= G_USEC_PER_SEC)
          {
            if (self->log_dropped > 0)
              g_warning ("Dropped %u log records from worker process %d (%s): more than %d a "
                         "second, or more of this process's time than it may take",
                         self->log_dropped, (int) self->pid, self->display_name,
                         MAX_LOGS_PER_SECOND);
            self->log_window_start = now;
            self->log_count = 0;
            self->log_dropped = 0;
            self->log_time_us = 0;
          }
        if (self->log_count++ < MAX_LOGS_PER_SECOND && self->log_time_us < MAX_LOG_US_PER_SECOND)
          {
            self->callbacks.log (self, msg->id, msg->log_level, msg->fields, self->user_data);
            self->log_time_us += g_get_monotonic_time () - now;
          }
        else
          self->log_dropped++;
      }
      break;

    case ACPU_WIRE_PROGRESS:
      if (self->callbacks.progress != NULL)
        self->callbacks.progress (self, msg->id, msg->fraction, msg->text, self->user_data);
      break;

    case ACPU_WIRE_PARTIAL:
      acpu_worker_proc_handle_partial (self, msg);
      break;

    case ACPU_WIRE_HELLO:
    case ACPU_WIRE_TYPES:
    case ACPU_WIRE_REQUEST:
    case ACPU_WIRE_CANCEL:
    case ACPU_WIRE_ACK:
    default:
      g_assert_not_reached ();
    }
}

/* A frame has been open for the whole limit since its first byte. Takes
 * in_lock, if it can: a caller holding it (acpu_worker_proc_take_reply())
 * may just have taken the frame whole; then the I/O thread looks again
 * when it reads next. */
static gboolean
acpu_worker_proc_stall_cb (gpointer user_data)
{
  ACpuWorkerProc *self = user_data;
  g_autofree char *what = NULL;
  gboolean stalled;

  g_clear_pointer (&self->stall_timer, g_source_unref);
  if (!g_mutex_trylock (&self->in_lock))
    return G_SOURCE_REMOVE;
  stalled = self->in.buf->len != self->in.head;
  g_mutex_unlock (&self->in_lock);
  if (!stalled)
    return G_SOURCE_REMOVE;

  what = g_strdup_printf ("it stayed in the middle of a frame for %u ms, sending less than %u bytes",
                          self->handshake_timeout_ms, (guint) STALL_PROGRESS_BYTES);
  acpu_worker_proc_fail (self, ACPU_ERROR_PROTOCOL, what);
  return G_SOURCE_REMOVE;
}

/* [io]: in in_lock, after a read that found nothing more for now. A frame begun
 * and not finished may only wait so long for the rest (a worker writes a
 * frame in one go): the timer starts when a frame begins (@new_frame: the
 * buffer was empty, or a frame was completed, since the last look) and more
 * bytes of the same frame restart it only once they add up to
 * STALL_PROGRESS_BYTES. So a worker sending a byte at a time, each within
 * the limit, does not keep a frame open for ever, and a large frame on a
 * slow link (64 KiB per period: 2 KiB/s at the default 30 s) still comes
 * through. Before the magic the handshake timer is the bound. */
static void
acpu_worker_proc_watch_stall (ACpuWorkerProc *self,
                              gboolean        new_frame)
{
  if (self->channel_done || self->handshake_timeout_ms == 0 || !self->magic ||
      self->in.buf->len == self->in.head)
    {
      acpu_worker_proc_clear_source (&self->stall_timer);
      return;
    }
  if (self->stall_timer != NULL && !new_frame && self->stall_progress < STALL_PROGRESS_BYTES)
    return;

  self->stall_progress = 0;
  acpu_worker_proc_clear_source (&self->stall_timer);
  self->stall_timer = g_timeout_source_new (self->handshake_timeout_ms);
  g_source_set_callback (self->stall_timer, acpu_worker_proc_stall_cb, self, NULL);
  g_source_attach (self->stall_timer, self->context);
}

/* A large value on its way: mapped and checked on a thread of its own. */
typedef struct
{
  ACpuWorkerProc  *proc;      /* a reference, given up on the I/O thread */
  GMainContext    *context;   /* proc's (the I/O thread's), for the way back */
  ACpuWireMessage  msg;       /* the loading thread's, then the I/O thread's */
  guint64          max_size;
  GError          *error;     /* why the value is refused */
} ACpuWorkerProcLoad;

/* [io], in in_lock, as a message is: the value of @load is loaded and
 * checked. Delivers it, or ends the worker for it as acpu_worker_proc_parse()
 * would have, unless the channel ended meanwhile (a kill: a time limit, a
 * cancel, a shutdown), and then the value is dropped; either way reading
 * goes on where it stopped. Gives up the load's reference last, here on the
 * I/O thread, so the handle is never freed elsewhere. */
static gboolean
acpu_worker_proc_load_done_cb (gpointer user_data)
{
  ACpuWorkerProcLoad *load = user_data;
  g_autoptr(ACpuWorkerProc) self = load->proc;
  gboolean end;

  g_mutex_lock (&self->in_lock);
  self->loading = FALSE;
  if (!self->channel_done)
    {
      if (load->error != NULL)
        acpu_worker_proc_fail (self, ACPU_ERROR_PROTOCOL, load->error->message);
      else
        acpu_worker_proc_handle (self, &load->msg);
    }
  acpu_wire_message_clear (&load->msg);
  g_clear_error (&load->error);
  g_free (load);

  /* What came after it: the read source parses it, then reads on. */
  if (!self->channel_done)
    {
      acpu_worker_proc_poll_channel (self, TRUE);
      g_atomic_int_set (&self->parse_pending, 1);
    }
  /* The process exited meanwhile: its end waited for this. */
  end = self->process_done && !self->channel_done;
  g_mutex_unlock (&self->in_lock);

  if (end)
    acpu_worker_proc_end (self);
  return G_SOURCE_REMOVE;
}

/* The loading thread (or the I/O thread, when no thread could be made):
 * maps and checks the value, touching nothing but @load, then hands it back
 * to the I/O thread. */
static gpointer
acpu_worker_proc_load_thread (gpointer data)
{
  ACpuWorkerProcLoad *load = data;
  GSource *source;

  acpu_wire_message_load (&load->msg, load->max_size, &load->error);

  source = g_idle_source_new ();
  g_source_set_priority (source, G_PRIORITY_DEFAULT);
  g_source_set_callback (source, acpu_worker_proc_load_done_cb, load, NULL);
  g_source_set_static_name (source, "[asynccpu-glib] worker value checked");
  g_source_attach (source, load->context);
  g_source_unref (source);
  return NULL;
}

/* [io], in in_lock: @msg's value is in a memfd too large to map and check
 * here, on the thread all pools share: a thread of its own does it (a new
 * one each time: a GThreadPool's threads do not survive a fork(), and a
 * value this large makes a thread's start cheap) and
 * acpu_worker_proc_load_done_cb() delivers it. Meanwhile nothing after it
 * is parsed and the channel is not polled (a hang-up included: its end
 * waits for the value, acpu_worker_proc_end()), nor read by a caller
 * (acpu_worker_proc_claim_reply()): the worker's messages keep their order.
 * Takes @msg's contents. */
static void
acpu_worker_proc_load_start (ACpuWorkerProc  *self,
                             ACpuWireMessage *msg)
{
  ACpuWorkerProcLoad *load = g_new0 (ACpuWorkerProcLoad, 1);
  g_autoptr(GError) error = NULL;
  GThread *thread;

  load->proc = acpu_worker_proc_ref (self);
  load->context = self->context;
  load->msg = *msg;
  load->max_size = self->max_size;
  memset (msg, 0, sizeof *msg);
  msg->fd = -1;

  self->loading = TRUE;
  /* Not a stalled frame: we stopped reading. */
  acpu_worker_proc_clear_source (&self->stall_timer);
  acpu_worker_proc_poll_channel (self, FALSE);

  thread = g_thread_try_new ("acpu-check", acpu_worker_proc_load_thread, load, &error);
  if (thread != NULL)
    g_thread_unref (thread);
  else
    acpu_worker_proc_load_thread (load);
}

/* [io]: in in_lock: delivers the messages `in` holds, up to one that must
 * be loaded first (acpu_worker_proc_load_start()). Returns FALSE when the
 * channel failed. */
static gboolean
acpu_worker_proc_parse (ACpuWorkerProc *self)
{
  g_autoptr(GError) error = NULL;
  ACpuWireMessage msg;

  while (!self->channel_done && !self->loading && acpu_wire_in_next (&self->in, &msg, &error))
    {
      self->n_frames++;
      /* (Before the handshake handle() refuses it without looking.) */
      if (msg.deferred && self->ready)
        acpu_worker_proc_load_start (self, &msg);
      else
        acpu_worker_proc_handle (self, &msg);
      acpu_wire_message_clear (&msg);
    }

  if (error != NULL && !self->channel_done)
    {
      acpu_worker_proc_fail (self, ACPU_ERROR_PROTOCOL, error->message);
      return FALSE;
    }
  return TRUE;
}

/* [io]: in in_lock, before the magic: @skipped is what the worker wrote on its
 * channel before it, which a worker's runtime may do (start-up messages on
 * stdout): text, passed on as output. Bytes that are not text (not UTF-8, or
 * control characters but tab, newline and carriage return) mean the program
 * is not a worker at all: the start fails now, naming the program, with an
 * escaped excerpt — not at the handshake timeout, and the bytes never reach
 * our stderr. A UTF-8 sequence cut by the end of the read waits for the
 * next read (preamble_carry). Returns FALSE when the start failed; else
 * @skipped holds the text to pass on. */
static gboolean
acpu_worker_proc_check_preamble (ACpuWorkerProc *self,
                                 GByteArray     *skipped)
{
  g_autoptr(GByteArray) text = g_byte_array_sized_new (self->preamble_carry_len + skipped->len);
  const char *start, *p, *end;

  g_byte_array_append (text, self->preamble_carry, self->preamble_carry_len);
  g_byte_array_append (text, skipped->data, skipped->len);
  self->preamble_carry_len = 0;
  start = p = (const char *) text->data;
  end = start + text->len;

  while (p < end)
    {
      gunichar c = g_utf8_get_char_validated (p, end - p);

      /* (-2 is also GLib's answer for a NUL: not a cut sequence.) */
      if (c == (gunichar) -2 && !self->magic && end - p < 4 && (guint8) *p >= 0xc2)
        {
          /* Cut in two (at most 3 bytes): the rest comes with the next read. */
          self->preamble_carry_len = end - p;
          memcpy (self->preamble_carry, p, end - p);
          end = p;
          break;
        }
      if (c == (gunichar) -1 || c == (gunichar) -2 || c == 0x7f ||
          (c < 0x20 && c != '\t' && c != '\n' && c != '\r'))
        {
          g_autoptr(GError) error = NULL;
          g_autofree char *excerpt = NULL;
          const char *from = MAX (start, p - 8);

          excerpt = acpu_worker_proc_escape (from, MIN ((gsize) (end - from), EXCERPT_BYTES));
          error = g_error_new (ACPU_ERROR, ACPU_ERROR_WORKER_START,
                               "worker process %d (%s) is not an asynccpu-glib worker: before the "
                               "handshake it wrote bytes that are not text to its standard output "
                               "(“%s”)", (int) self->pid, self->display_name, excerpt);
          acpu_worker_proc_kill (self, error);
          return FALSE;
        }
      p = g_utf8_next_char (p);
    }

  g_byte_array_set_size (skipped, 0);
  g_byte_array_append (skipped, (const guint8 *) start, end - start);
  return TRUE;
}

/* In in_lock, on the I/O thread: reads what is there, up to @max_reads
 * reads, and delivers it; ends the channel on its end, on a read error and
 * on anything malformed. */
static void
acpu_worker_proc_read_locked (ACpuWorkerProc *self,
                              guint           max_reads)
{
  gboolean new_frame = self->in.buf->len == self->in.head || !self->magic;
  guint64 n_frames = self->n_frames;

  /* A value is being checked: nothing more until it is delivered. */
  if (self->loading)
    return;

  /* What a caller waiting for a reply read and left to us. */
  if (self->pending_error != NULL)
    {
      g_autoptr(GError) error = g_steal_pointer (&self->pending_error);

      acpu_worker_proc_fail (self, ACPU_ERROR_PROTOCOL, error->message);
      return;
    }
  if (g_atomic_int_compare_and_exchange (&self->parse_pending, 1, 0) &&
      !acpu_worker_proc_parse (self))
    return;

  for (guint i = 0; i < max_reads && !self->channel_done; i++)
    {
      g_autoptr(GError) error = NULL;
      gssize n;

      n = acpu_wire_in_read (&self->in, self->fd, &error);
      if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        {
          acpu_worker_proc_watch_stall (self, new_frame || n_frames != self->n_frames);
          return;
        }
      if (n < 0 && error->domain == ACPU_ERROR)
        {
          acpu_worker_proc_fail (self, error->code, error->message);
          return;
        }
      if (n > 0)
        self->stall_progress += n;
      if (n < 0)
        {
          /* ECONNRESET and the like: the worker went away with requests
           * unread. Its exit status tells the rest; what it sent before
           * still counts. */
          g_clear_error (&error);
          n = 0;
        }

      /* What the worker's runtime printed to stdout before the channel was
       * its own is output, not protocol. */
      if (!self->magic)
        {
          g_autoptr(GByteArray) skipped = g_byte_array_new ();

          self->magic = acpu_wire_in_find_magic (&self->in, skipped, &error);
          if (!acpu_worker_proc_check_preamble (self, skipped))
            return;
          acpu_worker_proc_pass_output (self, skipped->data, skipped->len);
          if (error != NULL)
            {
              acpu_worker_proc_fail (self, ACPU_ERROR_WORKER_START, error->message);
              return;
            }
          if (!self->magic && n > 0)
            continue;
        }

      if (!acpu_worker_proc_parse (self))
        return;

      /* The end of the stream, if this was it, is read again afterwards. */
      if (self->loading)
        return;

      if (n <= 0)
        {
          acpu_worker_proc_finish_channel (self);
          return;
        }
    }
}

/* [io]: takes in_lock: acpu_worker_proc_read_locked(). */
void
acpu_worker_proc_read (ACpuWorkerProc *self,
                       guint           max_reads)
{
  g_autoptr(ACpuWorkerProc) hold = acpu_worker_proc_ref (self);

  g_mutex_lock (&self->in_lock);
  acpu_worker_proc_read_locked (self, max_reads);
  g_mutex_unlock (&self->in_lock);
}


/* The I/O thread's context, no lock: read_paused and parse_pending are
 * flags a caller sets (a stale read costs one more iteration). */
static gboolean
acpu_worker_proc_read_prepare (GSource *source,
                               gint    *timeout)
{
  ACpuReadSource *self = (ACpuReadSource *) source;

  self->pfd.events = self->proc->read_paused ? 0 : G_IO_IN;
  *timeout = -1;
  return !self->proc->loading && g_atomic_int_get (&self->proc->parse_pending) != 0;
}

/* [io]: as prepare(). */
static gboolean
acpu_worker_proc_read_check (GSource *source)
{
  ACpuReadSource *self = (ACpuReadSource *) source;

  return self->pfd.revents != 0 ||
         (!self->proc->loading && g_atomic_int_get (&self->proc->parse_pending) != 0);
}

/* Reads at most 16 times, then lets the other sources of the shared I/O
 * thread run. */
static gboolean
acpu_worker_proc_read_dispatch (GSource     *source,
                                GSourceFunc  callback,
                                gpointer     user_data)
{
  acpu_worker_proc_read (((ACpuReadSource *) source)->proc, 16);
  return G_SOURCE_CONTINUE;
}

GSourceFuncs acpu_worker_proc_read_source_funcs = {
  .prepare = acpu_worker_proc_read_prepare,
  .check = acpu_worker_proc_read_check,
  .dispatch = acpu_worker_proc_read_dispatch,
};

/* [io]: whether the read source polls the channel at all (not even for a
 * hang-up: acpu_worker_proc_load_start()). */
static void
acpu_worker_proc_poll_channel (ACpuWorkerProc *self,
                               gboolean        poll)
{
  ACpuReadSource *source = (ACpuReadSource *) self->read_source;

  if (source == NULL || g_source_is_destroyed (self->read_source))
    return;
  if (poll)
    g_source_add_poll (self->read_source, &source->pfd);
  else
    g_source_remove_poll (self->read_source, &source->pfd);
}

/* [io]: the channel takes more: writes what waits (takes out_lock). */
static gboolean
acpu_worker_proc_write_cb (int          fd,
                           GIOCondition condition,
                           gpointer     user_data)
{
  ACpuWorkerProc *self = user_data;

  acpu_worker_proc_flush (self);
  return G_SOURCE_CONTINUE;
}

/* Writing ------------------------------------------------------------------ */

/* Any thread, out_lock held: writes what waits, as much as the channel
 * takes; watches for room for the rest; shuts the write side once all is
 * out when closing. A write error means the worker is going away. */
void
acpu_worker_proc_flush_locked (ACpuWorkerProc *self)
{
  g_autoptr(GError) error = NULL;

  if (self->channel_done || self->out_broken)
    return;

  if (!acpu_wire_out_flush (&self->out, self->fd, &error))
    {
      /* The worker is going away; its end of stream or exit will tell. */
      self->out_broken = TRUE;
      g_byte_array_set_size (self->out.buf, 0);
      self->out.head = 0;
    }

  if (acpu_wire_out_pending (&self->out) > 0)
    {
      if (self->write_source == NULL)
        {
          self->write_source = g_unix_fd_source_new (self->fd, G_IO_OUT);
          g_source_set_callback (self->write_source, G_SOURCE_FUNC (acpu_worker_proc_write_cb),
                                 self, NULL);
          g_source_attach (self->write_source, self->context);
        }
    }
  else
    {
      acpu_worker_proc_clear_source (&self->write_source);
      if (self->closing)
        shutdown (self->fd, SHUT_WR);
    }
}

/* Any thread; takes out_lock. */
void
acpu_worker_proc_flush (ACpuWorkerProc *self)
{
  g_mutex_lock (&self->out_lock);
  acpu_worker_proc_flush_locked (self);
  g_mutex_unlock (&self->out_lock);
}

/* Any thread; takes out_lock. Queues a request; the pool flushes. */
gboolean
acpu_worker_proc_send (ACpuWorkerProc  *self,
                       guint64          id,
                       const char      *name,
                       GVariant        *args,
                       GError         **error)
{
  gboolean ok;

  g_return_val_if_fail (acpu_worker_proc_is_ready (self), FALSE);

  g_mutex_lock (&self->out_lock);
  ok = acpu_wire_out_request (&self->out, id, name, args, self->max_size, error);
  g_mutex_unlock (&self->out_lock);

  return ok;
}

/* Sends a small request and writes it out now, from any thread, when
 * nothing else waits to be written. Returns FALSE, with nothing sent, when it
 * cannot: the channel is busy or ending, or the request is large (it would be
 * copied into a memfd on the caller's thread) or does not encode. */
gboolean
acpu_worker_proc_send_now (ACpuWorkerProc *self,
                           guint64         id,
                           const char     *name,
                           GVariant       *args)
{
  gboolean sent = FALSE;

  g_mutex_lock (&self->out_lock);
  if (self->ready && !self->closing && !self->channel_done && !self->out_broken &&
      acpu_wire_out_pending (&self->out) == 0 &&
      g_variant_get_size (args) < self->out.memfd_threshold &&
      acpu_wire_out_request (&self->out, id, name, args, self->max_size, NULL))
    {
      acpu_worker_proc_flush_locked (self);
      sent = TRUE;
    }
  g_mutex_unlock (&self->out_lock);

  return sent;
}

/* Any thread; takes out_lock (so it may be called with in_lock or the
 * pool's core->lock held). Gives back the window of request @id: its
 * caller consumed @count more partial values of @bytes in all. An ack for
 * a request whose window is gone (a later request sends now) still goes:
 * the worker drops it. */
void
acpu_worker_proc_ack (ACpuWorkerProc *self,
                      guint64         id,
                      guint           count,
                      guint64         bytes)
{
  g_mutex_lock (&self->out_lock);
  if (self->partial_id == id)
    {
      self->partial_unacked -= MIN (count, self->partial_unacked);
      self->partial_unacked_bytes -= MIN (bytes, self->partial_unacked_bytes);
    }
  if (!self->channel_done && !self->closing)
    {
      acpu_wire_out_ack (&self->out, id, count, bytes);
      acpu_worker_proc_flush_locked (self);
    }
  g_mutex_unlock (&self->out_lock);
}

/* Any thread; takes out_lock. Asks the worker to cancel request @id. */
void
acpu_worker_proc_cancel (ACpuWorkerProc *self,
                         guint64         id)
{
  g_mutex_lock (&self->out_lock);
  if (!self->channel_done && !self->closing)
    {
      acpu_wire_out_cancel (&self->out, id);
      acpu_worker_proc_flush_locked (self);
    }
  g_mutex_unlock (&self->out_lock);
}


/* Waiting for a reply from another thread ----------------------------------- */

/* The I/O thread stops reading the channel while a caller may be waiting for
 * a reply itself (the pool offers this worker), so that the reply wakes that
 * caller and not the I/O thread too. A hang-up still wakes it. */
/* The I/O thread (the pool, when it offers the worker or takes it back). */
void
acpu_worker_proc_pause_reading (ACpuWorkerProc *self,
                                gboolean        paused)
{
  self->read_paused = paused;
}

/* Any thread: the channel, to poll (it stays open until the last unref). */
int
acpu_worker_proc_get_fd (ACpuWorkerProc *self)
{
  return self->fd;
}

/* [context] (a caller's), takes the input lock if it is free, and then
 * core->lock inside @claim: reads what the channel has and takes the reply
 * to request @id if that is exactly what came, whole and inline, and the
 * caller wins the claim (@value or @error is set: TAKEN). @claim runs with
 * the input lock held, after the reply was read and decoded and before it
 * is consumed; it settles who owns the request (acpu-pool-direct.c). When it
 * says no, the frame stays unread for the I/O thread, so nothing that came
 * after it can overtake it.
 *
 * Anything else — the I/O thread reading this channel now, a log record, a
 * partial frame, a value in a memfd (mapping it may take milliseconds), a
 * value being checked before it (self->loading), the end of the stream, a
 * malformed reply, a lost claim — is OTHER and left to the I/O thread: what was read is marked for it to parse (parse_pending)
 * and its context is woken. NONE: nothing has come yet. */
ACpuWorkerProcReply
acpu_worker_proc_claim_reply (ACpuWorkerProc          *self,
                              guint64                  id,
                              ACpuWorkerProcClaimFunc  claim,
                              gpointer                 claim_data,
                              GVariant               **value,
                              GError                 **error)
{
  g_autoptr(GError) read_error = NULL;
  ACpuWorkerProcReply reply = ACPU_WORKER_PROC_REPLY_OTHER;
  ACpuWireMessage msg;
  guint type, flags;
  guint64 frame_id;
  gsize frame, head;
  gssize n;

  ACPU_ASSERT_NOT_IO_THREAD ();

  /* Held: the I/O thread is reading this channel, so it has the reply. */
  if (!g_mutex_trylock (&self->in_lock))
    return ACPU_WORKER_PROC_REPLY_OTHER;

  /* A value before the reply is being checked: the I/O thread delivers both. */
  if (self->channel_done || self->pending_error != NULL || self->loading)
    goto out;

  n = acpu_wire_in_read (&self->in, self->fd, &read_error);
  if (n < 0 && g_error_matches (read_error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK) &&
      self->in.buf->len == self->in.head)
    {
      reply = ACPU_WORKER_PROC_REPLY_NONE;
      goto out;
    }

  if (n <= 0 || !acpu_wire_in_peek (&self->in, &type, &flags, &frame_id, &frame) ||
      (type != ACPU_WIRE_RESULT && type != ACPU_WIRE_ERROR) || frame_id != id ||
      frame != self->in.buf->len - self->in.head ||
      (flags & ACPU_WIRE_FLAG_MEMFD) || !g_queue_is_empty (&self->in.fds))
    goto leave_to_io;

  /* An inline frame with no descriptors: decoding it only moves `head`
   * (the body is copied out), so putting `head` back un-reads it. */
  head = self->in.head;
  if (!acpu_wire_in_next (&self->in, &msg, &read_error))
    {
      self->pending_error = g_steal_pointer (&read_error);
      goto leave_to_io;
    }

  if (!claim (claim_data))
    {
      acpu_wire_message_clear (&msg);
      self->in.head = head;
      goto leave_to_io;
    }

  if (msg.type == ACPU_WIRE_RESULT)
    *value = g_variant_ref (msg.value);
  else
    *error = acpu_error_new_remote (&self->new_domains, msg.domain, msg.code, msg.message);
  acpu_wire_message_clear (&msg);
  reply = ACPU_WORKER_PROC_REPLY_TAKEN;
  goto out;

leave_to_io:
  g_atomic_int_set (&self->parse_pending, 1);
  g_main_context_wakeup (self->context);
out:
  g_mutex_unlock (&self->in_lock);
  return reply;
}
