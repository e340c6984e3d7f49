/* test-worker.c — ACpuWorker (acpu-worker.c) with no pool: the test starts
 * acpu-test-worker on one end of a socketpair and plays the pool on the
 * other by hand with the channel code (acpu-wire-private.h), so every frame
 * the worker writes is looked at: the magic and the hello, a request and
 * its reply, an unknown task, a GError crossing with its domain, code and
 * message, the replies of a pipelined burst before a crash in it, a cancel of a running task, a log record, and the end of the
 * channel (idle, while a task runs, in the middle of a frame, before the
 * pool's greeting, an empty pipe with an inherited ACPU_WORKER=1), and a
 * worker whose parent is gone while the channel stays open.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib-unix.h>
#include <glib/gstdio.h>

#include "acpu-error.h"
#include "acpu-wire-private.h"
#include "acpu-test-util.h"

/* How long a test waits for something that must happen: a bound that only
 * turns a hang into a failure, not a speed requirement. */
#define PATIENCE_S 60

/* The pool's end of one worker's channel. */
typedef struct
{
  GPid         pid;
  int          fd;          /* our end of the socketpair, non-blocking */
  ACpuWireIn   in;
  ACpuWireOut  out;
  gboolean     magic;       /* the magic has been read */
  gsize        preamble;    /* bytes before the magic */
} Peer;

/* Main thread. Starts acpu-test-worker with one end of a socketpair as its
 * stdin and stdout (as the pool does), in a process group of its own, and
 * its stderr on @err_fd (-1: ours). With @greet, queues the pool's greeting
 * (an ACK for id 0), as a pool does first thing. */
static void
peer_start_full (Peer     *peer,
                 gboolean  greet,
                 int       err_fd)
{
  g_autofree char *worker = acpu_test_worker_path ();
  int sv[2];

  memset (peer, 0, sizeof *peer);
  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), ==, 0);
  peer->pid = fork ();
  g_assert_cmpint (peer->pid, >=, 0);
  if (peer->pid == 0)
    {
      setpgid (0, 0);
      if (dup2 (sv[1], 0) < 0 || dup2 (sv[1], 1) < 0 || (err_fd >= 0 && dup2 (err_fd, 2) < 0))
        _exit (126);
      execl (worker, worker, NULL);
      _exit (127);
    }
  close (sv[1]);
  peer->fd = sv[0];
  g_assert_true (g_unix_set_fd_nonblocking (peer->fd, TRUE, NULL));
  acpu_wire_in_init (&peer->in, ACPU_WIRE_READER_POOL, ACPU_WIRE_DEFAULT_MAX_SIZE);
  acpu_wire_out_init (&peer->out, FALSE);
  if (greet)
    acpu_wire_out_ack (&peer->out, 0, 0, 0);
}

static void
peer_start (Peer *peer)
{
  peer_start_full (peer, TRUE, -1);
}

/* Main thread. Reads @fd to its end. */
static char *
read_all (int fd)
{
  g_autoptr(GString) text = g_string_new (NULL);
  char buf[4096];
  gssize n;

  while ((n = read (fd, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
    if (n > 0)
      g_string_append_len (text, buf, n);
  return g_string_free (g_steal_pointer (&text), FALSE);
}

/* Main thread. Writes what is pending, then reads until a whole message
 * (after the magic, which comes first) is in. Returns FALSE at the end of
 * the stream. */
static gboolean
peer_next (Peer            *peer,
           ACpuWireMessage *msg)
{
  gint64 deadline = g_get_monotonic_time () + PATIENCE_S * G_USEC_PER_SEC;
  g_autoptr(GByteArray) skipped = g_byte_array_new ();

  for (;;)
    {
      g_autoptr(GError) error = NULL;
      struct pollfd pfd = {
        .fd = peer->fd,
        .events = POLLIN | (acpu_wire_out_pending (&peer->out) > 0 ? POLLOUT : 0),
      };
      gssize n;

      /* Only with bytes in: acpu_wire_in_find_magic() passes an empty
       * buffer's NULL data to memmem() (UBSan: nonnull argument). */
      if (!peer->magic && peer->in.buf->len > peer->in.head)
        {
          peer->magic = acpu_wire_in_find_magic (&peer->in, skipped, &error);
          g_assert_no_error (error);
          peer->preamble += skipped->len;
          g_byte_array_set_size (skipped, 0);
        }
      if (peer->magic && acpu_wire_in_next (&peer->in, msg, &error))
        return TRUE;
      g_assert_no_error (error);

      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_assert_cmpint (poll (&pfd, 1, 1000), >=, 0);
      if (pfd.revents & POLLOUT)
        {
          g_assert_true (acpu_wire_out_flush (&peer->out, peer->fd, &error));
          g_assert_no_error (error);
        }
      if ((pfd.revents & (POLLIN | POLLHUP | POLLERR)) == 0)
        continue;
      n = acpu_wire_in_read (&peer->in, peer->fd, &error);
      if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        continue;
      g_assert_no_error (error);
      if (n == 0)
        return FALSE;
    }
}

/* Main thread. Writes everything pending (the worker reads as it can). */
static void
peer_flush (Peer *peer)
{
  gint64 deadline = g_get_monotonic_time () + PATIENCE_S * G_USEC_PER_SEC;

  while (acpu_wire_out_pending (&peer->out) > 0)
    {
      g_autoptr(GError) error = NULL;
      struct pollfd pfd = { .fd = peer->fd, .events = POLLOUT };

      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_assert_cmpint (poll (&pfd, 1, 1000), >=, 0);
      g_assert_true (acpu_wire_out_flush (&peer->out, peer->fd, &error));
      g_assert_no_error (error);
    }
}

/* Main thread. Waits for the hello and checks it; returns the task names. */
static GStrv
peer_hello (Peer *peer)
{
  ACpuWireMessage msg;
  GStrv names;

  g_assert_true (peer_next (peer, &msg));
  g_assert_cmpint (msg.type, ==, ACPU_WIRE_HELLO);
  /* The magic is the first thing on the channel: nothing before it. */
  g_assert_cmpuint (peer->preamble, ==, 0);
  g_assert_cmpuint (msg.version, ==, ACPU_WIRE_VERSION);
  g_assert_cmpuint (msg.pid, ==, (guint32) peer->pid);
  /* Its channel is a Unix socket: it says it can take descriptors. */
  g_assert_cmpuint (msg.flags & ACPU_WIRE_HELLO_CAN_RECEIVE_FDS, !=, 0);
  /* acpu-test-worker declares types: a TYPES frame follows, with them. */
  g_assert_cmpuint (msg.flags & ACPU_WIRE_HELLO_TYPES, !=, 0);
  names = g_strdupv ((char **) msg.names);
  acpu_wire_message_clear (&msg);
  g_assert_true (peer_next (peer, &msg));
  g_assert_cmpint (msg.type, ==, ACPU_WIRE_TYPES);
  g_assert_cmpuint (g_variant_n_children (msg.types), ==, 2);
  for (gsize i = 0; i < 2; i++)
    {
      g_autoptr(GVariant) entry = g_variant_get_child_value (msg.types, i);
      g_autofree char *text = g_variant_print (entry, FALSE);

      g_assert_true (g_str_equal (text, "('square', '(x)', '(x)')") ||
                     g_str_equal (text, "('typed-echo', '(*)', '(s)')"));
    }
  acpu_wire_message_clear (&msg);
  peer->out.can_pass_fds = TRUE;
  return names;
}

/* Main thread. Sends request @id for @name with @args (floating is sunk). */
static void
peer_request (Peer       *peer,
              guint64     id,
              const char *name,
              GVariant   *args)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) owned = g_variant_ref_sink (args);

  g_assert_true (acpu_wire_out_request (&peer->out, id, name, owned, G_MAXUINT32, &error));
  g_assert_no_error (error);
  peer_flush (peer);
}

/* Main thread. Reads the next message, which must be the error reply to @id
 * with that domain (by name), code and message (NULL: any). */
static void
peer_expect_error (Peer       *peer,
                   guint64     id,
                   const char *domain,
                   gint32      code,
                   const char *message)
{
  ACpuWireMessage msg;

  g_assert_true (peer_next (peer, &msg));
  g_assert_cmpint (msg.type, ==, ACPU_WIRE_ERROR);
  g_assert_cmpuint (msg.id, ==, id);
  g_assert_cmpstr (msg.domain, ==, domain);
  g_assert_cmpint (msg.code, ==, code);
  if (message != NULL)
    g_assert_cmpstr (msg.message, ==, message);
  acpu_wire_message_clear (&msg);
}

/* Main thread. Reads the next message, which must be the result of @id;
 * returns its value. */
static GVariant *
peer_expect_result (Peer    *peer,
                    guint64  id)
{
  ACpuWireMessage msg;
  GVariant *value;

  g_assert_true (peer_next (peer, &msg));
  g_assert_cmpint (msg.type, ==, ACPU_WIRE_RESULT);
  g_assert_cmpuint (msg.id, ==, id);
  value = g_variant_ref (msg.value);
  acpu_wire_message_clear (&msg);
  return value;
}

/* Main thread. Hangs up (closes our end) and reaps the worker; returns its
 * wait status. The worker must go within PATIENCE_S. */
static int
peer_hang_up (Peer *peer)
{
  int status;

  close (peer->fd);
  peer->fd = -1;
  status = acpu_test_wait_status (peer->pid, PATIENCE_S * 1000);
  g_assert_cmpint (status, !=, -1);
  acpu_wire_in_clear (&peer->in);
  acpu_wire_out_clear (&peer->out);
  return status;
}

static void
assert_exited_with (int status,
                    int code)
{
  g_assert_true (WIFEXITED (status));
  g_assert_cmpint (WEXITSTATUS (status), ==, code);
}

/* A file in a fresh temporary folder; the folder goes with clear_tmp(). */
static char *
tmp_file (char **dir)
{
  g_autoptr(GError) error = NULL;

  *dir = g_dir_make_tmp ("test-worker-XXXXXX", &error);
  g_assert_no_error (error);
  return g_build_filename (*dir, "pid", NULL);
}

static void
clear_tmp (char *dir,
           char *path)
{
  g_unlink (path);
  g_rmdir (dir);
  g_free (path);
  g_free (dir);
}

/* Tests -------------------------------------------------------------------- */

static void
test_worker_hello (void)
{
  Peer peer;
  g_auto(GStrv) names = NULL;
  const char *expected[] = { "echo", "pid", "sleep", "error", "log", "wait-cancel", "later", "now" };

  g_test_summary ("A worker writes the magic first, then a hello with the protocol version, "
                  "its pid and the name of every task it registered, once each");
  peer_start (&peer);
  names = peer_hello (&peer);
  for (gsize i = 0; i < G_N_ELEMENTS (expected); i++)
    g_assert_true (g_strv_contains ((const char * const *) names, expected[i]));
  for (guint i = 0; names[i] != NULL; i++)
    for (guint j = i + 1; names[j] != NULL; j++)
      g_assert_cmpstr (names[i], !=, names[j]);
  assert_exited_with (peer_hang_up (&peer), 0);
  g_assert_cmpuint (acpu_test_count_children (), ==, 0);
}

static void
test_worker_request (void)
{
  Peer peer;
  g_auto(GStrv) names = NULL;
  g_autoptr(GVariant) echo = NULL;
  g_autoptr(GVariant) pid = NULL;
  g_autoptr(GVariant) second = NULL;
  g_autoptr(GVariant) later = NULL;

  g_test_summary ("Each request is answered with a result carrying its own id; requests "
                  "written back to back are answered in turn; an async task answers too");
  peer_start (&peer);
  names = peer_hello (&peer);

  peer_request (&peer, 7, "echo", g_variant_new ("(sxay)", "hello", (gint64) -3, NULL));
  echo = peer_expect_result (&peer, 7);
  acpu_test_assert_prints (echo, "('hello', -3, [])");

  /* Two in one write: ids 8 and 9, answered in that order. */
  {
    g_autoptr(GError) error = NULL;

    g_assert_true (acpu_wire_out_request (&peer.out, 8, "pid", g_variant_new ("()"),
                                          G_MAXUINT32, &error));
    g_assert_true (acpu_wire_out_request (&peer.out, 9, "echo", g_variant_new ("(u)", 9),
                                          G_MAXUINT32, &error));
    g_assert_no_error (error);
    peer_flush (&peer);
  }
  pid = peer_expect_result (&peer, 8);
  {
    gint32 got;

    g_variant_get (pid, "(i)", &got);
    g_assert_cmpint (got, ==, peer.pid);
  }
  second = peer_expect_result (&peer, 9);
  acpu_test_assert_prints (second, "(9,)");

  /* An async task (acpu_worker_register_async) answers from its own source. */
  peer_request (&peer, 10, "later", g_variant_new ("(suu)", "", 10, 77));
  later = peer_expect_result (&peer, 10);
  acpu_test_assert_prints (later, "(77,)");

  assert_exited_with (peer_hang_up (&peer), 0);
  g_assert_cmpuint (acpu_test_count_children (), ==, 0);
}

static void
test_worker_unknown_task (void)
{
  Peer peer;
  g_auto(GStrv) names = NULL;
  g_autoptr(GVariant) echo = NULL;
  ACpuWireMessage msg;

  g_test_summary ("A request for a task the worker does not have is answered with "
                  "ACPU_ERROR_UNKNOWN_TASK naming it, and the worker goes on serving");
  peer_start (&peer);
  names = peer_hello (&peer);

  peer_request (&peer, 1, "no-such-task", g_variant_new ("()"));
  g_assert_true (peer_next (&peer, &msg));
  g_assert_cmpint (msg.type, ==, ACPU_WIRE_ERROR);
  g_assert_cmpuint (msg.id, ==, 1);
  g_assert_cmpstr (msg.domain, ==, g_quark_to_string (ACPU_ERROR));
  g_assert_cmpint (msg.code, ==, ACPU_ERROR_UNKNOWN_TASK);
  g_assert_nonnull (strstr (msg.message, "no-such-task"));
  acpu_wire_message_clear (&msg);

  peer_request (&peer, 2, "echo", g_variant_new ("(b)", TRUE));
  echo = peer_expect_result (&peer, 2);
  acpu_test_assert_prints (echo, "(true,)");

  assert_exited_with (peer_hang_up (&peer), 0);
}

static void
test_worker_gerror (void)
{
  Peer peer;
  g_auto(GStrv) names = NULL;

  g_test_summary ("A GError a task raises crosses with its domain (by quark name), code and "
                  "message, for a domain the pool may not know and for GIO's own");
  peer_start (&peer);
  names = peer_hello (&peer);

  peer_request (&peer, 1, "error",
                g_variant_new ("(sis)", "test-worker-error-quark", 42, "it went wrong: ü"));
  peer_expect_error (&peer, 1, "test-worker-error-quark", 42, "it went wrong: ü");

  peer_request (&peer, 2, "error",
                g_variant_new ("(sis)", g_quark_to_string (G_IO_ERROR), G_IO_ERROR_NOT_FOUND,
                               "no file"));
  peer_expect_error (&peer, 2, g_quark_to_string (G_IO_ERROR), G_IO_ERROR_NOT_FOUND, "no file");

  /* A task that returns neither a value nor an error is a failure, not a
   * silence. */
  peer_request (&peer, 3, "null", g_variant_new ("()"));
  peer_expect_error (&peer, 3, g_quark_to_string (ACPU_ERROR), ACPU_ERROR_FAILED, NULL);

  assert_exited_with (peer_hang_up (&peer), 0);
}

static void
test_worker_cancel (void)
{
  Peer peer;
  g_auto(GStrv) names = NULL;
  g_autoptr(GVariant) echo = NULL;
  char *dir = NULL;
  char *path = tmp_file (&dir);

  g_test_summary ("A cancel for a running task cancels its GCancellable: the task answers "
                  "G_IO_ERROR_CANCELLED under its own id, and the worker goes on serving");
  peer_start (&peer);
  names = peer_hello (&peer);

  /* wait-cancel writes its pid to the file once it runs, then waits. */
  peer_request (&peer, 5, "wait-cancel", g_variant_new ("(s)", path));
  ACPU_TEST_WAIT_FOR (g_file_test (path, G_FILE_TEST_EXISTS), PATIENCE_S);
  acpu_wire_out_cancel (&peer.out, 5);
  peer_flush (&peer);
  peer_expect_error (&peer, 5, g_quark_to_string (G_IO_ERROR), G_IO_ERROR_CANCELLED, NULL);

  /* A cancel for a request that is over is ignored. */
  acpu_wire_out_cancel (&peer.out, 5);
  peer_request (&peer, 6, "echo", g_variant_new ("(s)", "after"));
  echo = peer_expect_result (&peer, 6);
  acpu_test_assert_prints (echo, "('after',)");

  assert_exited_with (peer_hang_up (&peer), 0);
  clear_tmp (dir, path);
}

static void
test_worker_log (void)
{
  Peer peer;
  g_auto(GStrv) names = NULL;
  g_autoptr(GVariant) result = NULL;
  ACpuWireMessage msg;
  gboolean found_message = FALSE;
  GVariantIter iter;
  const char *key;
  GVariant *value;

  g_test_summary ("g_message() in a task reaches the channel as a log frame tagged with the "
                  "request's id, with its level and fields, before the task's result");
  peer_start (&peer);
  names = peer_hello (&peer);

  peer_request (&peer, 11, "log", g_variant_new ("(s)", "a message from task 11"));
  g_assert_true (peer_next (&peer, &msg));
  g_assert_cmpint (msg.type, ==, ACPU_WIRE_LOG);
  g_assert_cmpuint (msg.id, ==, 11);
  g_assert_cmpuint (msg.log_level & G_LOG_LEVEL_MASK, ==, G_LOG_LEVEL_MESSAGE);
  g_variant_iter_init (&iter, msg.fields);
  while (g_variant_iter_next (&iter, "(&s@ay)", &key, &value))
    {
      gsize len;
      const char *bytes = g_variant_get_fixed_array (value, &len, 1);

      if (g_str_equal (key, "MESSAGE"))
        {
          /* With or without a terminating NUL. */
          g_autofree char *text = g_strndup (bytes, len);

          g_assert_cmpstr (text, ==, "a message from task 11");
          found_message = TRUE;
        }
      g_variant_unref (value);
    }
  g_assert_true (found_message);
  acpu_wire_message_clear (&msg);

  result = peer_expect_result (&peer, 11);
  acpu_test_assert_prints (result, "()");

  assert_exited_with (peer_hang_up (&peer), 0);
}

static void
test_worker_eof_idle (void)
{
  Peer peer;
  g_auto(GStrv) names = NULL;

  g_test_summary ("The end of the channel between tasks is the pool hanging up: the worker "
                  "exits with status 0");
  peer_start (&peer);
  names = peer_hello (&peer);
  assert_exited_with (peer_hang_up (&peer), 0);
  g_assert_cmpuint (acpu_test_count_children (), ==, 0);
}

/* Before: the worker took an input that ended before the pool's first
 * frame for a pool hanging up, and exited 0 without a word. */
static void
test_worker_eof_before_pool (void)
{
  Peer peer;
  g_auto(GStrv) names = NULL;
  g_autofree char *err_text = NULL;
  int err_pipe[2];

  g_test_summary ("A channel that ends before the pool's first frame is no pool: the "
                  "worker says so on stderr and exits with status 1 (a pool greets its "
                  "worker first thing: eof/idle)");
  g_assert_cmpint (pipe2 (err_pipe, O_CLOEXEC), ==, 0);
  peer_start_full (&peer, FALSE, err_pipe[1]);
  close (err_pipe[1]);
  names = peer_hello (&peer);
  assert_exited_with (peer_hang_up (&peer), 1);
  err_text = read_all (err_pipe[0]);
  close (err_pipe[0]);
  g_test_message ("stderr: %s", err_text);
  g_assert_nonnull (strstr (err_text, "standard input ended, before a single message"));
  g_assert_cmpuint (acpu_test_count_children (), ==, 0);
}

/* Before: `true | ACPU_WORKER=1 program | cat` exited 0 and said nothing. */
static void
test_worker_empty_pipe (void)
{
  g_autofree char *worker = acpu_test_worker_path ();
  g_autofree char *err_text = NULL;
  g_autofree char *out_text = NULL;
  int in_pipe[2], out_pipe[2], err_pipe[2], status;
  GPid pid;

  g_test_summary ("With ACPU_WORKER=1 inherited and an empty pipe on stdin (true | "
                  "program | cat), the program says what is wrong and exits non-zero");
  g_assert_cmpint (pipe2 (in_pipe, O_CLOEXEC), ==, 0);
  g_assert_cmpint (pipe2 (out_pipe, O_CLOEXEC), ==, 0);
  g_assert_cmpint (pipe2 (err_pipe, O_CLOEXEC), ==, 0);
  close (in_pipe[1]);
  pid = fork ();
  g_assert_cmpint (pid, >=, 0);
  if (pid == 0)
    {
      if (dup2 (in_pipe[0], 0) < 0 || dup2 (out_pipe[1], 1) < 0 || dup2 (err_pipe[1], 2) < 0)
        _exit (126);
      g_setenv ("ACPU_WORKER", "1", TRUE);
      execl (worker, worker, NULL);
      _exit (127);
    }
  close (in_pipe[0]);
  close (out_pipe[1]);
  close (err_pipe[1]);
  out_text = read_all (out_pipe[0]);
  err_text = read_all (err_pipe[0]);
  close (out_pipe[0]);
  close (err_pipe[0]);
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  g_test_message ("status %d: %s", status, err_text);
  g_assert_true (WIFEXITED (status));
  g_assert_cmpint (WEXITSTATUS (status), !=, 0);
  g_assert_nonnull (strstr (err_text, "standard input ended"));
  g_assert_nonnull (strstr (err_text, "ACPU_WORKER=1"));
}

/* Before: the worker said on stderr that its parent was gone before it
 * killed its group; the reader of its stderr had died with the parent, the
 * write raised SIGPIPE and the worker died of it, its task's child left
 * running (tests/hardening/test-containment /children/parent-killed failed
 * about 1 run in 25 when this path beat the parent-death signal). */
static void
test_worker_orphaned_children (void)
{
  g_autofree char *worker = acpu_test_worker_path ();
  g_autoptr(GVariant) result = NULL;
  ACpuWireMessage msg;
  Peer peer;
  int sv[2], err_pipe[2], status;
  gint32 grandchild;
  gint64 deadline;
  GPid relay, pid;

  g_test_summary ("A worker whose parent is gone while the channel stays open, and whose "
                  "stderr nobody reads any more, still takes what its tasks started along");

  /* The relay (a launcher: ssh, srun) starts the worker and waits; the
   * channel is ours, and so is the only reader of the worker's stderr. */
  memset (&peer, 0, sizeof peer);
  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), ==, 0);
  g_assert_cmpint (pipe2 (err_pipe, O_CLOEXEC), ==, 0);
  relay = fork ();
  g_assert_cmpint (relay, >=, 0);
  if (relay == 0)
    {
      if (fork () == 0)
        {
          setsid ();
          if (dup2 (sv[1], 0) < 0 || dup2 (sv[1], 1) < 0 || dup2 (err_pipe[1], 2) < 0)
            _exit (126);
          execl (worker, worker, NULL);
          _exit (127);
        }
      for (;;)
        pause ();
    }
  close (sv[1]);
  close (err_pipe[1]);
  peer.fd = sv[0];
  g_assert_true (g_unix_set_fd_nonblocking (peer.fd, TRUE, NULL));
  acpu_wire_in_init (&peer.in, ACPU_WIRE_READER_POOL, ACPU_WIRE_DEFAULT_MAX_SIZE);
  acpu_wire_out_init (&peer.out, FALSE);
  acpu_wire_out_ack (&peer.out, 0, 0, 0);

  /* Not our child: its pid comes in its hello. */
  g_assert_true (peer_next (&peer, &msg));
  g_assert_cmpint (msg.type, ==, ACPU_WIRE_HELLO);
  pid = (GPid) msg.pid;
  acpu_wire_message_clear (&msg);
  g_assert_true (peer_next (&peer, &msg));
  g_assert_cmpint (msg.type, ==, ACPU_WIRE_TYPES);
  acpu_wire_message_clear (&msg);

  peer_request (&peer, 1, "grandchild", g_variant_new ("()"));
  result = peer_expect_result (&peer, 1);
  g_variant_get (result, "(i)", &grandchild);
  g_assert_true (acpu_test_pid_alive (grandchild));

  /* The reader of its stderr goes, then its parent; the channel stays. */
  close (err_pipe[0]);
  g_assert_cmpint (kill (relay, SIGKILL), ==, 0);
  g_assert_cmpint (waitpid (relay, &status, 0), ==, relay);

  ACPU_TEST_WAIT_FOR (!acpu_test_pid_alive (pid), PATIENCE_S);
  /* A SIGKILL sent is not a process gone yet. */
  deadline = g_get_monotonic_time () + PATIENCE_S * G_USEC_PER_SEC;
  while (acpu_test_pid_alive (grandchild) && g_get_monotonic_time () < deadline)
    g_usleep (2000);
  if (acpu_test_pid_alive (grandchild))
    {
      kill (grandchild, SIGKILL);
      g_test_fail_printf ("worker %d is gone, its task's child %d is still running",
                          (int) pid, (int) grandchild);
    }
  close (peer.fd);
  acpu_wire_in_clear (&peer.in);
  acpu_wire_out_clear (&peer.out);
}

/* Before: the worker held the replies of a pipelined burst until its queue
 * was empty; the crash came first and took all eight with it (the pool
 * then failed the first with ACPU_ERROR_WORKER_DIED and ran the others
 * again). */
static void
test_worker_replies_before_crash (void)
{
  g_autoptr(GError) error = NULL;
  g_auto(GStrv) names = NULL;
  ACpuWireMessage msg;
  Peer peer;
  int status = 0;

  g_test_summary ("Requests pipelined in one write, the last one crashing the worker: the "
                  "answer of every task that finished is on the channel before the crash");
  peer_start (&peer);
  names = peer_hello (&peer);

  for (guint64 id = 1; id <= 8; id++)
    g_assert_true (acpu_wire_out_request (&peer.out, id, "echo", g_variant_new ("(t)", id),
                                          G_MAXUINT32, &error));
  g_assert_true (acpu_wire_out_request (&peer.out, 9, "crash", g_variant_new ("(s)", "kill"),
                                        G_MAXUINT32, &error));
  g_assert_no_error (error);
  peer_flush (&peer);

  for (guint64 id = 1; id <= 8; id++)
    {
      g_autoptr(GVariant) value = NULL;
      guint64 got;

      g_assert_true (peer_next (&peer, &msg));
      g_assert_cmpint (msg.type, ==, ACPU_WIRE_RESULT);
      g_assert_cmpuint (msg.id, ==, id);
      value = g_variant_ref (msg.value);
      acpu_wire_message_clear (&msg);
      g_variant_get (value, "(t)", &got);
      g_assert_cmpuint (got, ==, id);
    }
  /* Then nothing: request 9 killed it. */
  g_assert_false (peer_next (&peer, &msg));
  close (peer.fd);
  g_assert_cmpint (waitpid (peer.pid, &status, 0), ==, peer.pid);
  g_assert_true (WIFSIGNALED (status));
  g_assert_cmpint (WTERMSIG (status), ==, SIGKILL);
  acpu_wire_in_clear (&peer.in);
  acpu_wire_out_clear (&peer.out);
}

static void
test_worker_eof_busy (void)
{
  Peer peer;
  g_auto(GStrv) names = NULL;
  char *dir = NULL;
  char *path = tmp_file (&dir);

  g_test_summary ("The end of the channel while a task burns the CPU and never looks at its "
                  "cancellable still ends the worker: nobody is left to want the result");
  peer_start (&peer);
  names = peer_hello (&peer);
  peer_request (&peer, 1, "spin", g_variant_new ("(s)", path));
  ACPU_TEST_WAIT_FOR (g_file_test (path, G_FILE_TEST_EXISTS), PATIENCE_S);
  assert_exited_with (peer_hang_up (&peer), 0);
  g_assert_cmpuint (acpu_test_count_children (), ==, 0);
  clear_tmp (dir, path);
}

static void
test_worker_eof_mid_frame (void)
{
  Peer peer;
  g_auto(GStrv) names = NULL;
  g_autoptr(GError) error = NULL;

  g_test_summary ("The end of the channel in the middle of a frame is not a clean hang-up: "
                  "the worker exits with status 1");
  peer_start (&peer);
  names = peer_hello (&peer);
  peer_request (&peer, 1, "echo", g_variant_new ("(s)", "whole"));
  g_variant_unref (peer_expect_result (&peer, 1));
  g_assert_true (acpu_wire_out_request (&peer.out, 2, "echo", g_variant_new ("(s)", "cut"),
                                        G_MAXUINT32, &error));
  g_assert_no_error (error);
  /* Only half of the header goes out. */
  g_assert_cmpint (write (peer.fd, peer.out.buf->data, ACPU_WIRE_HEADER_SIZE / 2), ==,
                   ACPU_WIRE_HEADER_SIZE / 2);
  assert_exited_with (peer_hang_up (&peer), 1);
  g_assert_cmpuint (acpu_test_count_children (), ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/acpu/worker/hello", test_worker_hello);
  g_test_add_func ("/acpu/worker/request", test_worker_request);
  g_test_add_func ("/acpu/worker/unknown-task", test_worker_unknown_task);
  g_test_add_func ("/acpu/worker/gerror", test_worker_gerror);
  g_test_add_func ("/acpu/worker/cancel", test_worker_cancel);
  g_test_add_func ("/acpu/worker/log", test_worker_log);
  g_test_add_func ("/acpu/worker/replies-before-crash", test_worker_replies_before_crash);
  g_test_add_func ("/acpu/worker/eof/idle", test_worker_eof_idle);
  g_test_add_func ("/acpu/worker/eof/before-pool", test_worker_eof_before_pool);
  g_test_add_func ("/acpu/worker/eof/empty-pipe", test_worker_empty_pipe);
  g_test_add_func ("/acpu/worker/eof/busy", test_worker_eof_busy);
  g_test_add_func ("/acpu/worker/eof/mid-frame", test_worker_eof_mid_frame);
  g_test_add_func ("/acpu/worker/orphaned/children", test_worker_orphaned_children);

  return g_test_run ();
}
