/* test-channel.c — a worker over whatever a launcher gives it: two pipes
 * (ssh), a pty for its output and a pipe for its input (`srun -u`), a
 * socketpair (a local pool, bwrap); what it says when its stdio is no
 * channel at all; and that it does not outlive the process that started it.
 *
 * The test plays the pool by hand with the wire code, so that it needs no
 * pool API for launchers. With ACPU_TEST_LAUNCHER set (a shell-quoted argv
 * prefix, e.g. "ssh -p 2222 … root@127.0.0.1") and ACPU_TEST_LAUNCHER_CHANNEL
 * (pipes or socket: what the launcher gets from us, as a pool would give
 * it; the worker at the far end gets what the launcher makes of it: pipes
 * through ssh, a pty and a pipe through srun -u, the socket through bwrap),
 * /acpu/engines/launcher runs the worker through that prefix instead:
 * tests/engines/run.sh sets both.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <glib-unix.h>
#include <glib/gstdio.h>

#include "acpu-error.h"
#include "acpu-wire-private.h"
#include "acpu-test-util.h"

/* How long a test waits for something that must happen: a bound that only
 * turns a hang into a failure, not a speed requirement. */
#define PATIENCE_S 60

typedef enum
{
  CHAN_PIPES,   /* stdin and stdout are two pipes */
  CHAN_PTY,     /* stdin a pipe, stdout a pty (as `srun -u` does) */
  CHAN_SOCKET,  /* stdin and stdout are one socket (a local pool) */
} ChanKind;

/* The pool's end of one worker's channel. */
typedef struct
{
  GPid        pid;       /* what the test started: the worker, or its launcher */
  int         to_fd;     /* the worker's input */
  int         from_fd;   /* the worker's output */
  ACpuWireIn  in;
  ACpuWireOut out;
  guint32     worker_pid;
  guint32     hello_flags;
} Chan;

/* Forks and execs @argv with @in_fd as stdin, @out_fd as stdout, stderr
 * inherited; the child gets a process group of its own (as a pool's worker
 * does) unless @new_session, which makes it a session leader whose
 * controlling terminal is @ctty (opened by path), if any. */
static GPid
spawn_with (const char * const *argv,
            int                 in_fd,
            int                 out_fd,
            gboolean            new_session,
            const char         *ctty)
{
  GPid pid = fork ();

  g_assert_cmpint (pid, >=, 0);
  if (pid == 0)
    {
      if (new_session)
        {
          setsid ();
          if (ctty != NULL && open (ctty, O_RDWR) < 0)
            _exit (125);
        }
      else
        setpgid (0, 0);
      if (dup2 (in_fd, 0) < 0 || dup2 (out_fd, 1) < 0)
        _exit (126);
      execvp (argv[0], (char **) argv);
      _exit (127);
    }
  return pid;
}

/* The launcher prefix, shell-quoted, from ACPU_TEST_LAUNCHER, and the
 * worker's path after it. */
static GStrv
launcher_argv (const char *launcher,
               const char *worker)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  g_auto(GStrv) prefix = NULL;

  if (launcher != NULL)
    {
      g_assert_true (g_shell_parse_argv (launcher, NULL, &prefix, &error));
      g_assert_no_error (error);
      g_strv_builder_addv (builder, (const char **) prefix);
    }
  g_strv_builder_add (builder, worker);
  return g_strv_builder_end (builder);
}

/* Starts @argv with a channel of @kind on our side. */
static void
chan_start_argv (Chan               *chan,
                 ChanKind            kind,
                 const char * const *argv)
{
  int child_in, child_out;

  memset (chan, 0, sizeof *chan);
  if (kind == CHAN_SOCKET)
    {
      int sv[2];

      g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), ==, 0);
      chan->to_fd = chan->from_fd = sv[0];
      child_in = child_out = sv[1];
    }
  else
    {
      int in_pipe[2], out_pipe[2];

      g_assert_cmpint (pipe2 (in_pipe, O_CLOEXEC), ==, 0);
      chan->to_fd = in_pipe[1];
      child_in = in_pipe[0];
      if (kind == CHAN_PIPES)
        {
          g_assert_cmpint (pipe2 (out_pipe, O_CLOEXEC), ==, 0);
          chan->from_fd = out_pipe[0];
          child_out = out_pipe[1];
        }
      else
        {
          int master = posix_openpt (O_RDWR | O_NOCTTY | O_CLOEXEC);

          g_assert_cmpint (master, >=, 0);
          g_assert_cmpint (grantpt (master), ==, 0);
          g_assert_cmpint (unlockpt (master), ==, 0);
          child_out = open (ptsname (master), O_RDWR | O_NOCTTY | O_CLOEXEC);
          g_assert_cmpint (child_out, >=, 0);
          chan->from_fd = master;
        }
    }

  chan->pid = spawn_with (argv, child_in, child_out, FALSE, NULL);
  close (child_in);
  if (child_out != child_in)
    close (child_out);

  g_unix_set_fd_nonblocking (chan->to_fd, TRUE, NULL);
  g_unix_set_fd_nonblocking (chan->from_fd, TRUE, NULL);
  acpu_wire_in_init (&chan->in, ACPU_WIRE_READER_POOL, ACPU_WIRE_DEFAULT_MAX_SIZE);
  acpu_wire_out_init (&chan->out, FALSE);
}

/* Starts the test worker (through @launcher, if not NULL) with a channel of
 * @kind on our side. */
static void
chan_start (Chan       *chan,
            ChanKind    kind,
            const char *launcher)
{
  g_autofree char *relative = acpu_test_worker_path ();
  /* Absolute: ssh runs it from the home directory. */
  g_autofree char *worker = g_canonicalize_filename (relative, NULL);
  g_auto(GStrv) argv = launcher_argv (launcher, worker);

  chan_start_argv (chan, kind, (const char * const *) argv);
}

/* Closes the channel and reaps what the test started. Returns its wait status. */
static int
chan_finish (Chan *chan)
{
  int status = 0;

  if (chan->from_fd != chan->to_fd)
    close (chan->from_fd);
  close (chan->to_fd);
  if (chan->pid > 0)
    g_assert_cmpint (waitpid (chan->pid, &status, 0), ==, chan->pid);
  acpu_wire_in_clear (&chan->in);
  acpu_wire_out_clear (&chan->out);
  return status;
}

/* Writes what is pending and reads until a whole message (after the magic,
 * which comes first) is in; returns FALSE at the end of the stream. A pty
 * whose other end is closed reads as EIO: the end, too. */
static gboolean
chan_next (Chan            *chan,
           ACpuWireMessage *msg)
{
  gint64 deadline = g_get_monotonic_time () + PATIENCE_S * G_USEC_PER_SEC;
  g_autoptr(GByteArray) skipped = g_byte_array_new ();
  g_autoptr(GError) error = NULL;
  gboolean magic = chan->worker_pid != 0;

  for (;;)
    {
      struct pollfd fds[2] = {
        { .fd = chan->from_fd, .events = POLLIN },
        { .fd = chan->to_fd, .events = acpu_wire_out_pending (&chan->out) > 0 ? POLLOUT : 0 },
      };
      gssize n;

      if (!magic)
        {
          magic = acpu_wire_in_find_magic (&chan->in, skipped, &error);
          g_assert_no_error (error);
        }
      if (magic && acpu_wire_in_next (&chan->in, msg, &error))
        {
          if (msg->type == ACPU_WIRE_HELLO)
            {
              chan->worker_pid = msg->pid;
              chan->hello_flags = msg->flags;
            }
          return TRUE;
        }
      g_assert_no_error (error);

      g_assert_cmpint (g_get_monotonic_time (), <, deadline);
      g_assert_cmpint (poll (fds, 2, 1000), >=, 0);
      if (fds[1].revents != 0)
        {
          g_assert_true (acpu_wire_out_flush (&chan->out, chan->to_fd, &error));
          g_assert_no_error (error);
        }
      if (fds[0].revents == 0)
        continue;
      n = acpu_wire_in_read (&chan->in, chan->from_fd, &error);
      if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        {
          g_clear_error (&error);
          continue;
        }
      if (n < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_FAILED) &&
          isatty (chan->from_fd))
        return FALSE;
      g_assert_no_error (error);
      if (n == 0)
        return FALSE;
    }
}

/* Waits for the hello and checks it. */
static void
chan_hello (Chan *chan)
{
  ACpuWireMessage msg;

  g_assert_true (chan_next (chan, &msg));
  g_assert_cmpint (msg.type, ==, ACPU_WIRE_HELLO);
  g_assert_cmpuint (msg.version, ==, ACPU_WIRE_VERSION);
  g_assert_true (g_strv_contains (msg.names, "echo"));
  g_assert_cmpuint (msg.pid, >, 0);
  /* The types the test worker declares follow, when it says so. */
  if (msg.flags & ACPU_WIRE_HELLO_TYPES)
    {
      acpu_wire_message_clear (&msg);
      g_assert_true (chan_next (chan, &msg));
      g_assert_cmpint (msg.type, ==, ACPU_WIRE_TYPES);
    }
  acpu_wire_message_clear (&msg);
}

/* Sends "echo" with @args and returns the result (asserting it is one). */
static GVariant *
chan_echo (Chan     *chan,
           guint64   id,
           GVariant *args)
{
  g_autoptr(GError) error = NULL;
  ACpuWireMessage msg;
  GVariant *value;

  g_assert_true (acpu_wire_out_request (&chan->out, id, "echo", args, G_MAXUINT32, &error));
  g_assert_no_error (error);
  g_assert_true (chan_next (chan, &msg));
  g_assert_cmpint (msg.type, ==, ACPU_WIRE_RESULT);
  g_assert_cmpuint (msg.id, ==, id);
  value = g_variant_ref (msg.value);
  acpu_wire_message_clear (&msg);
  return value;
}

/* Values that would travel in memfds on a socket arrive intact inline:
 * every byte value, and 16 MiB. */
static void
chan_check_values (Chan *chan)
{
  g_autoptr(GVariant) small = NULL;
  g_autoptr(GVariant) all = NULL;
  g_autoptr(GVariant) big = NULL;
  g_autofree guint8 *bytes = g_malloc (16 * 1024 * 1024);
  gsize len;

  small = chan_echo (chan, 1, g_variant_new ("(sx)", "small", (gint64) -42));
  acpu_test_assert_prints (small, "('small', -42)");

  /* 256 byte values, each after each, so \n, \r, ^C, ^D, ^S, ^Z, 0xff … */
  for (guint i = 0; i < 256 * 256; i++)
    bytes[i] = (guint8) ((i & 0xff) ^ (i >> 8));
  all = chan_echo (chan, 2, g_variant_new ("(@ay)", g_variant_new_fixed_array (
                                             G_VARIANT_TYPE_BYTE, bytes, 256 * 256, 1)));
  {
    g_autoptr(GVariant) ay = g_variant_get_child_value (all, 0);
    const guint8 *got = g_variant_get_fixed_array (ay, &len, 1);

    g_assert_cmpmem (got, len, bytes, 256 * 256);
  }

  for (gsize i = 0; i < 16 * 1024 * 1024; i++)
    bytes[i] = (guint8) (i * 7 + (i >> 16));
  big = chan_echo (chan, 3, g_variant_new ("(@ay)", g_variant_new_fixed_array (
                                             G_VARIANT_TYPE_BYTE, bytes, 16 * 1024 * 1024, 1)));
  {
    g_autoptr(GVariant) ay = g_variant_get_child_value (big, 0);
    const guint8 *got = g_variant_get_fixed_array (ay, &len, 1);

    g_assert_cmpmem (got, len, bytes, 16 * 1024 * 1024);
  }
}

static void
run_channel (ChanKind    kind,
             const char *launcher)
{
  Chan chan;
  int status;

  chan_start (&chan, kind, launcher);
  chan_hello (&chan);
  /* Descriptors pass only when the worker's own end is one Unix socket. */
  if (kind == CHAN_SOCKET && launcher == NULL)
    g_assert_cmpuint (chan.hello_flags & ACPU_WIRE_HELLO_CAN_RECEIVE_FDS, !=, 0);
  else if (kind != CHAN_SOCKET)
    g_assert_cmpuint (chan.hello_flags & ACPU_WIRE_HELLO_CAN_RECEIVE_FDS, ==, 0);
  chan.out.can_pass_fds = (chan.hello_flags & ACPU_WIRE_HELLO_CAN_RECEIVE_FDS) != 0;
  if (kind == CHAN_PTY && launcher == NULL)
    {
      struct termios tio;

      /* The worker made it raw before its magic: no \n → \r\n, no echo. */
      g_assert_cmpint (tcgetattr (chan.from_fd, &tio), ==, 0);
      g_assert_cmpuint (tio.c_oflag & OPOST, ==, 0);
      g_assert_cmpuint (tio.c_lflag & (ECHO | ICANON | ISIG), ==, 0);
    }
  chan_check_values (&chan);

  /* Hanging up between tasks: the worker ends, status 0. */
  status = chan_finish (&chan);
  if (launcher == NULL)
    {
      g_assert_true (WIFEXITED (status));
      g_assert_cmpint (WEXITSTATUS (status), ==, 0);
    }
}

static void
test_channel_pipes (void)
{
  g_test_summary ("Over two pipes (ssh's relay) the worker says hello, answers, "
                  "carries 16 MiB and every byte value inline, and ends at EOF");
  run_channel (CHAN_PIPES, NULL);
}

static void
test_channel_pty (void)
{
  g_test_summary ("With a pty for its output and a pipe for its input (srun -u) the "
                  "worker puts the pty in raw mode: every byte value and 16 MiB arrive intact");
  run_channel (CHAN_PTY, NULL);
}

static void
test_channel_socket (void)
{
  g_test_summary ("Over a socketpair the worker offers descriptors in its hello, and "
                  "large values go in memfds");
  run_channel (CHAN_SOCKET, NULL);
}

/* Runs the test worker with @in_fd/@out_fd as stdin/stdout and stderr to a
 * pipe; returns its wait status and what it said on stderr. */
static int
run_not_a_channel (int           in_fd,
                   int           out_fd,
                   gboolean      new_session,
                   const char   *ctty,
                   const char   *env_worker,
                   char        **err_text)
{
  g_autofree char *worker = acpu_test_worker_path ();
  const char *argv[] = { worker, NULL };
  g_autoptr(GString) text = g_string_new (NULL);
  int err_pipe[2], saved_err, status;
  char buf[4096];
  gssize n;
  GPid pid;

  g_assert_cmpint (pipe2 (err_pipe, O_CLOEXEC), ==, 0);
  saved_err = dup (2);
  dup2 (err_pipe[1], 2);
  if (env_worker != NULL)
    g_setenv ("ACPU_WORKER", env_worker, TRUE);
  pid = spawn_with (argv, in_fd, out_fd, new_session, ctty);
  g_unsetenv ("ACPU_WORKER");
  dup2 (saved_err, 2);
  close (saved_err);
  close (err_pipe[1]);

  while ((n = read (err_pipe[0], buf, sizeof buf)) > 0)
    g_string_append_len (text, buf, n);
  close (err_pipe[0]);
  g_assert_cmpint (waitpid (pid, &status, 0), ==, pid);
  *err_text = g_string_free (g_steal_pointer (&text), FALSE);
  g_test_message ("status %d: %s", status, *err_text);
  return status;
}

/* A pipe whose write end has had @text and is closed; returns the read end. */
static int
pipe_with (const char *text)
{
  int p[2];

  g_assert_cmpint (pipe2 (p, O_CLOEXEC), ==, 0);
  g_assert_cmpint (write (p[1], text, strlen (text)), ==, (gssize) strlen (text));
  close (p[1]);
  return p[0];
}

static void
assert_refused (int         status,
                const char *err_text,
                const char *expected)
{
  g_assert_true (WIFEXITED (status));
  g_assert_cmpint (WEXITSTATUS (status), !=, 0);
  g_assert_nonnull (strstr (err_text, expected));
}

static void
test_channel_not_a_channel (void)
{
  g_autofree char *err_text = NULL;
  g_autofree char *file = NULL;
  int out_pipe[2], master, slave, null_fd, file_fd, in_fd, status;

  g_test_summary ("A worker whose stdio is no channel says why on stderr and exits "
                  "non-zero: a terminal, /dev/null or a file on stdin, the session's "
                  "terminal on stdout, or an inherited ACPU_WORKER=1 with a pipe on "
                  "stdin that does not speak the protocol");

  g_assert_cmpint (pipe2 (out_pipe, O_CLOEXEC), ==, 0);

  master = posix_openpt (O_RDWR | O_NOCTTY | O_CLOEXEC);
  g_assert_cmpint (master, >=, 0);
  g_assert_cmpint (grantpt (master), ==, 0);
  g_assert_cmpint (unlockpt (master), ==, 0);
  slave = open (ptsname (master), O_RDWR | O_NOCTTY | O_CLOEXEC);
  g_assert_cmpint (slave, >=, 0);

  status = run_not_a_channel (slave, out_pipe[1], FALSE, NULL, NULL, &err_text);
  assert_refused (status, err_text, "standard input is a terminal");
  g_clear_pointer (&err_text, g_free);

  null_fd = open ("/dev/null", O_RDWR | O_CLOEXEC);
  status = run_not_a_channel (null_fd, out_pipe[1], FALSE, NULL, NULL, &err_text);
  assert_refused (status, err_text, "standard input is a device");
  g_clear_pointer (&err_text, g_free);

  status = run_not_a_channel (pipe_with (""), null_fd, FALSE, NULL, NULL, &err_text);
  assert_refused (status, err_text, "standard output is a device");
  g_clear_pointer (&err_text, g_free);

  file = g_build_filename (g_get_tmp_dir (), "not-a-channel", NULL);
  g_assert_true (g_file_set_contents (file, "some text\n", -1, NULL));
  file_fd = open (file, O_RDONLY | O_CLOEXEC);
  status = run_not_a_channel (file_fd, out_pipe[1], FALSE, NULL, NULL, &err_text);
  assert_refused (status, err_text, "standard input is a file");
  g_clear_pointer (&err_text, g_free);
  close (file_fd);

  /* A person's shell: `… | program` with ACPU_WORKER=1 exported, the
   * terminal on stdout. */
  in_fd = pipe_with ("");
  status = run_not_a_channel (in_fd, slave, TRUE, ptsname (master), "1", &err_text);
  assert_refused (status, err_text, "standard output is this session's terminal");
  g_assert_nonnull (strstr (err_text, "ACPU_WORKER=1"));
  g_clear_pointer (&err_text, g_free);
  close (in_fd);

  /* `echo … | program > somewhere`: text that is not the protocol, long
   * enough to be read as a frame header, or shorter than one. */
  in_fd = pipe_with ("this is a line of text, not a frame\n");
  status = run_not_a_channel (in_fd, out_pipe[1], FALSE, NULL, "1", &err_text);
  assert_refused (status, err_text, "does not speak the asynccpu-glib protocol");
  g_assert_nonnull (strstr (err_text, "ACPU_WORKER=1"));
  g_clear_pointer (&err_text, g_free);
  close (in_fd);

  in_fd = pipe_with ("hello\n");
  status = run_not_a_channel (in_fd, out_pipe[1], FALSE, NULL, "1", &err_text);
  assert_refused (status, err_text, "ended in the middle of a frame");
  g_clear_pointer (&err_text, g_free);
  close (in_fd);

  close (null_fd);
  close (slave);
  close (master);
  close (out_pipe[0]);
  close (out_pipe[1]);
  g_unlink (file);
}

/* Polls until @pid is gone (or a zombie); returns how long that took, or
 * -1 after PATIENCE_S. */
static gint64
wait_gone (GPid pid)
{
  gint64 start = g_get_monotonic_time ();

  while (acpu_test_pid_alive (pid))
    {
      if (g_get_monotonic_time () - start > PATIENCE_S * G_USEC_PER_SEC)
        return -1;
      g_usleep (5000);
    }
  return g_get_monotonic_time () - start;
}

/* The worker under a shell that does not exec it; SIGKILLs the shell while
 * the channel stays open on our side: only the worker's look at its parent
 * can tell it. With @busy, a task that never looks at its cancellable runs. */
static void
run_orphan (gboolean busy)
{
  g_autofree char *worker = acpu_test_worker_path ();
  g_autofree char *quoted = g_shell_quote (worker);
  g_autofree char *script = g_strdup_printf ("%s; exit $?", quoted);
  g_autoptr(GError) error = NULL;
  Chan chan;
  gint64 took;
  int status;

  /* `sh -c 'worker; exit $?'`: the shell waits for the worker. */
  {
    const char *argv[] = { "sh", "-c", script, NULL };

    chan_start_argv (&chan, CHAN_PIPES, argv);
  }
  chan_hello (&chan);
  g_assert_cmpuint (chan.worker_pid, !=, (guint32) chan.pid);
  g_assert_true (acpu_test_pid_alive (chan.worker_pid));

  if (busy)
    {
      g_assert_true (acpu_wire_out_request (&chan.out, 1, "spin", g_variant_new ("(s)", ""),
                                           G_MAXUINT32, &error));
      g_assert_true (acpu_wire_out_flush (&chan.out, chan.to_fd, &error));
      g_assert_no_error (error);
    }

  g_assert_cmpint (kill (chan.pid, SIGKILL), ==, 0);
  g_assert_cmpint (waitpid (chan.pid, &status, 0), ==, chan.pid);
  chan.pid = 0;

  /* Our ends stay open: no EOF reaches the worker. */
  took = wait_gone (chan.worker_pid);
  g_test_message ("worker %u gone %.0f ms after its parent was killed",
                  chan.worker_pid, took / 1000.0);
  g_assert_cmpint (took, >=, 0);
  chan_finish (&chan);
}

static void
test_channel_orphan_idle (void)
{
  g_test_summary ("An idle worker whose parent is SIGKILLed exits, though its channel "
                  "stays open");
  run_orphan (FALSE);
}

static void
test_channel_orphan_busy (void)
{
  g_test_summary ("A worker running a task that never looks at its cancellable exits "
                  "when its parent is SIGKILLed, though its channel stays open");
  run_orphan (TRUE);
}

static void
test_channel_reader_gone (void)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) child = NULL;
  gint32 grandchild;
  Chan chan;
  int status;

  g_test_summary ("A worker on pipes (ssh's relay) whose output nobody reads any more does "
                  "not die of SIGPIPE when it answers: it ends when its input does, and "
                  "takes what its tasks started along; before, SIGPIPE ended it at once "
                  "and a task's child was left behind");

  chan_start (&chan, CHAN_PIPES, NULL);
  chan_hello (&chan);
  {
    ACpuWireMessage msg;

    g_assert_true (acpu_wire_out_request (&chan.out, 1, "grandchild", g_variant_new ("()"), G_MAXUINT32,
                                          &error));
    g_assert_true (chan_next (&chan, &msg));
    g_assert_cmpint (msg.type, ==, ACPU_WIRE_RESULT);
    child = g_variant_ref (msg.value);
    acpu_wire_message_clear (&msg);
  }
  g_variant_get (child, "(i)", &grandchild);
  g_assert_true (acpu_test_pid_alive (grandchild));

  /* The reader of the worker's output goes; a task's answer finds it gone. */
  close (chan.from_fd);
  chan.from_fd = -1;
  g_assert_true (acpu_wire_out_request (&chan.out, 2, "echo", g_variant_new ("(s)", "x"),
                                        G_MAXUINT32, &error));
  g_assert_true (acpu_wire_out_flush (&chan.out, chan.to_fd, &error));
  g_assert_no_error (error);

  /* Still there a second later (SIGPIPE took it within milliseconds). */
  status = acpu_test_wait_status (chan.pid, 1000);
  if (status != -1 && WIFSIGNALED (status))
    g_error ("the worker died of signal %d (%s) when it answered", WTERMSIG (status),
             g_strsignal (WTERMSIG (status)));
  g_assert_cmpint (status, ==, -1);

  /* Its input ends: it hangs up, with what its task started. */
  close (chan.to_fd);
  chan.to_fd = -1;
  status = acpu_test_wait_status (chan.pid, PATIENCE_S * 1000);
  chan.pid = 0;
  g_assert_true (WIFEXITED (status));
  g_assert_cmpint (wait_gone (grandchild), >=, 0);
  acpu_wire_in_clear (&chan.in);
  acpu_wire_out_clear (&chan.out);
}

/* Through a real launcher (tests/engines/run.sh sets it up): the hello, the
 * values, and no worker left after the launcher is SIGKILLed. */
static void
test_engines_launcher (void)
{
  const char *launcher = g_getenv ("ACPU_TEST_LAUNCHER");
  const char *channel = g_getenv ("ACPU_TEST_LAUNCHER_CHANNEL");
  ChanKind kind = CHAN_PIPES;
  Chan chan;
  gint64 took;
  int status;

  g_test_summary ("Through a real launcher (bwrap, ssh, srun -u) the worker says hello, "
                  "answers, carries every byte value and 16 MiB, and is gone soon after "
                  "the launcher is SIGKILLed");

  if (launcher == NULL)
    {
      g_test_skip ("ACPU_TEST_LAUNCHER is not set: run through tests/engines/run.sh");
      return;
    }
  if (g_strcmp0 (channel, "pty") == 0)
    kind = CHAN_PTY;
  else if (g_strcmp0 (channel, "socket") == 0)
    kind = CHAN_SOCKET;
  g_test_message ("launcher: %s (our end: %s)", launcher, channel ? channel : "pipes");

  /* Results, then a clean hang-up. */
  chan_start (&chan, kind, launcher);
  chan_hello (&chan);
  g_test_message ("worker pid %u, hello flags 0x%x", chan.worker_pid, chan.hello_flags);
  chan.out.can_pass_fds = (chan.hello_flags & ACPU_WIRE_HELLO_CAN_RECEIVE_FDS) != 0;
  chan_check_values (&chan);
  status = chan_finish (&chan);
  g_assert_true (WIFEXITED (status));
  g_assert_cmpint (WEXITSTATUS (status), ==, 0);

  /* SIGKILL of the launcher while a task spins; our ends of the channel
   * stay open, as a pool that has not noticed yet keeps them. */
  chan_start (&chan, kind, launcher);
  chan_hello (&chan);
  g_assert_true (acpu_test_pid_alive (chan.worker_pid));
  {
    g_autoptr(GError) error = NULL;

    g_assert_true (acpu_wire_out_request (&chan.out, 1, "spin", g_variant_new ("(s)", ""),
                                         G_MAXUINT32, &error));
    g_assert_true (acpu_wire_out_flush (&chan.out, chan.to_fd, &error));
    g_assert_no_error (error);
  }
  g_usleep (100 * 1000);
  g_assert_cmpint (kill (chan.pid, SIGKILL), ==, 0);
  g_assert_cmpint (waitpid (chan.pid, &status, 0), ==, chan.pid);
  chan.pid = 0;
  took = wait_gone (chan.worker_pid);
  g_test_message ("worker %u gone %.0f ms after its launcher was SIGKILLed",
                  chan.worker_pid, took / 1000.0);
  g_assert_cmpint (took, >=, 0);
  chan_finish (&chan);
}

int
main (int   argc,
      char *argv[])
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/acpu/channel/pipes", test_channel_pipes);
  g_test_add_func ("/acpu/channel/pty", test_channel_pty);
  g_test_add_func ("/acpu/channel/socket", test_channel_socket);
  g_test_add_func ("/acpu/channel/not-a-channel", test_channel_not_a_channel);
  g_test_add_func ("/acpu/channel/orphan-idle", test_channel_orphan_idle);
  g_test_add_func ("/acpu/channel/orphan-busy", test_channel_orphan_busy);
  g_test_add_func ("/acpu/channel/reader-gone", test_channel_reader_gone);
  g_test_add_func ("/acpu/engines/launcher", test_engines_launcher);

  return g_test_run ();
}
