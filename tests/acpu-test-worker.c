/* acpu-test-worker.c — the worker the tests run, written with our own API.
 *
 * Usage: acpu-test-worker   (started by an ACpuProcessTaskPool)
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <asynccpu-glib.h>

/* echo: returns its arguments. */
static GVariant *
task_echo (GVariant *args, GCancellable *cancellable, gpointer user_data, GError **error)
{
  return g_variant_ref (args);
}

/* progress (u n): reports progress n times, as fast as it can, the text
 * changing every 1000 reports; returns (u) n. */
static GVariant *
task_progress (GVariant *args, GCancellable *cancellable, gpointer user_data, GError **error)
{
  ACpuWorker *worker = acpu_worker_get_running ();
  char text[32] = "";
  guint32 n;

  g_variant_get (args, "(u)", &n);
  for (guint32 i = 1; i <= n; i++)
    {
      if (i % 1000 == 0)
        g_snprintf (text, sizeof text, "step %u", i);
      acpu_worker_report_progress (worker, (double) i / n, text);
    }
  return g_variant_new ("(u)", n);
}

/* stream (uu n, size): sends n partial values (uxay): the index, the
 * monotonic time it was sent at, and size bytes; returns (u) n. */
static GVariant *
task_stream (GVariant *args, GCancellable *cancellable, gpointer user_data, GError **error)
{
  ACpuWorker *worker = acpu_worker_get_running ();
  g_autofree guint8 *bytes = NULL;
  guint32 n, size;

  g_variant_get (args, "(uu)", &n, &size);
  bytes = g_malloc0 (MAX (size, 1));
  for (guint32 i = 0; i < n; i++)
    {
      GVariant *value = g_variant_new ("(ux@ay)", i, g_get_monotonic_time (),
                                       g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, bytes,
                                                                  size, 1));

      if (!acpu_worker_send_partial (worker, value, error))
        return NULL;
    }
  return g_variant_new ("(u)", n);
}

/* pid: returns (i) this worker's pid. */
static GVariant *
task_pid (GVariant *args, GCancellable *cancellable, gpointer user_data, GError **error)
{
  return g_variant_new ("(i)", (gint32) getpid ());
}

/* sleep (u msec): sleeps, looking at the cancellable every millisecond;
 * returns (i) pid. */
static GVariant *
task_sleep (GVariant *args, GCancellable *cancellable, gpointer user_data, GError **error)
{
  guint32 msec;
  gint64 end;

  g_variant_get (args, "(u)", &msec);
  end = g_get_monotonic_time () + (gint64) msec * 1000;
  while (g_get_monotonic_time () < end)
    {
      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        return NULL;
      g_usleep (1000);
    }
  return g_variant_new ("(i)", (gint32) getpid ());
}

/* spin (s path): writes its pid to @path (if not empty), then burns the CPU
 * for ever and never looks at its cancellable. */
static GVariant *
task_spin (GVariant *args, GCancellable *cancellable, gpointer user_data, GError **error)
{
  volatile guint64 x = 0;
  const char *path;

  g_variant_get (args, "(&s)", &path);
  if (*path)
    {
      g_autofree char *pid = g_strdup_printf ("%d", (int) getpid ());
      g_file_set_contents (path, pid, -1, NULL);
    }
  for (;;)
    x++;
  return NULL;
}

/* wait-cancel (s path): writes its pid to @path, then waits until cancelled
 * and returns G_IO_ERROR_CANCELLED, as a cooperative task does. */
static GVariant *
task_wait_cancel (GVariant *args, GCancellable *cancellable, gpointer user_data, GError **error)
{
  g_autofree char *pid = g_strdup_printf ("%d", (int) getpid ());
  const char *path;

  g_variant_get (args, "(&s)", &path);
  g_file_set_contents (path, pid, -1, NULL);
  while (!g_cancellable_is_cancelled (cancellable))
    g_usleep (1000);
  g_cancellable_set_error_if_cancelled (cancellable, error);
  return NULL;
}

/* crash (s how): segv, abort, exit (status 3), kill (SIGKILL itself). */
static GVariant *
task_crash (GVariant *args, GCancellable *cancellable, gpointer user_data, GError **error)
{
  const char *how;

  g_variant_get (args, "(&s)", &how);
  if (g_str_equal (how, "segv"))
    raise (SIGSEGV);
  else if (g_str_equal (how, "abort"))
    abort ();
  else if (g_str_equal (how, "exit"))
    _exit (3);
  else if (g_str_equal (how, "kill"))
    raise (SIGKILL);
  return g_variant_new ("()");
}

/* error (sis domain, code, message): fails with that error. */
static GVariant *
task_error (GVariant *args, GCancellable *cancellable, gpointer user_data, GError **error)
{
  const char *domain, *message;
  gint32 code;

  g_variant_get (args, "(&si&s)", &domain, &code, &message);
  g_set_error_literal (error, g_quark_from_string (domain), code, message);
  return NULL;
}

/* null: returns neither a value nor an error. */
static GVariant *
task_null (GVariant *args, GCancellable *cancellable, gpointer user_data, GError **error)
{
  return NULL;
}

/* print: writes to stdout every way a task might, then returns "ok". */
static GVariant *
task_print (GVariant *args, GCancellable *cancellable, gpointer user_data, GError **error)
{
  static const char junk[] = "\x10\x00\x00\x00\x03\x00\x00\x00garbage on stdout\n";

  printf ("printf from a task\n");
  fflush (stdout);
  g_print ("g_print from a task\n");
  if (write (1, junk, sizeof junk) < 0)
    return NULL;
  return g_variant_new_string ("ok");
}

/* bytes (t n): returns ay of @n bytes, byte i being i % 251. */
static GVariant *
task_bytes (GVariant *args, GCancellable *cancellable, gpointer user_data, GError **error)
{
  guint64 n;
  guint8 *data;

  g_variant_get (args, "(t)", &n);
  data = g_malloc (n);
  for (guint64 i = 0; i < n; i++)
    data[i] = i % 251;
  return g_variant_new_from_data (G_VARIANT_TYPE_BYTESTRING, data, n, TRUE, g_free, data);
}

/* log (s message): g_message()s it, returns (). */
static GVariant *
task_log (GVariant *args, GCancellable *cancellable, gpointer user_data, GError **error)
{
  const char *message;

  g_variant_get (args, "(&s)", &message);
  g_message ("%s", message);
  return g_variant_new ("()");
}

/* log-hostile: logs one structured warning with a forged field name, fields
 * the parent owns and 2 MiB of values (32 fields of 64 KiB, the most the
 * channel carries); returns "ok". */
static GVariant *
task_log_hostile (GVariant *args, GCancellable *cancellable, gpointer user_data, GError **error)
{
  g_autofree char *big = g_strnfill (64 * 1024, 'v');
  g_autofree char *message = g_strnfill (1024 * 1024, 'm');
  g_autoptr(GPtrArray) keys = g_ptr_array_new_with_free_func (g_free);
  GLogField fields[32];
  gsize n = 0;

  memcpy (message, "hostile record", strlen ("hostile record"));
  fields[n++] = (GLogField) { "MESSAGE", message, -1 };
  fields[n++] = (GLogField) { "X=1\nACPU_WORKER_PID", "1", -1 };
  fields[n++] = (GLogField) { "SYSLOG_IDENTIFIER", "sshd", -1 };
  fields[n++] = (GLogField) { "ACPU_TASK", "forged", -1 };
  fields[n++] = (GLogField) { "GLIB_DOMAIN", "Hostile", -1 };
  while (n < G_N_ELEMENTS (fields))
    {
      char *key = g_strdup_printf ("BIG_%u", (guint) n);

      g_ptr_array_add (keys, key);
      fields[n++] = (GLogField) { key, big, -1 };
    }
  g_log_structured_array (G_LOG_LEVEL_WARNING, fields, n);
  return g_variant_new ("s", "ok");
}

/* grandchild: starts `sleep 1000` (in this worker's process group) and
 * returns (i) its pid. */
static GVariant *
task_grandchild (GVariant *args, GCancellable *cancellable, gpointer user_data, GError **error)
{
  const char *argv[] = { "sleep", "1000", NULL };
  GPid pid;

  if (!g_spawn_async (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD,
                      NULL, NULL, &pid, error))
    return NULL;
  return g_variant_new ("(i)", (gint32) pid);
}

/* say-and-abort (s text): writes @text to stderr, then aborts. */
static GVariant *
task_say_and_abort (GVariant *args, GCancellable *cancellable, gpointer user_data, GError **error)
{
  const char *text;

  g_variant_get (args, "(&s)", &text);
  fprintf (stderr, "%s\n", text);
  fflush (stderr);
  abort ();
  return NULL;
}

/* The channel's descriptor: the only socket this process has open above 2. */
static int
find_channel (void)
{
  DIR *dir = opendir ("/proc/self/fd");
  struct dirent *entry;
  int found = -1;

  while (dir && (entry = readdir (dir)) != NULL)
    {
      int fd = atoi (entry->d_name);
      struct stat st;

      if (fd > 2 && fd != dirfd (dir) && fstat (fd, &st) == 0 && S_ISSOCK (st.st_mode))
        found = fd;
    }
  if (dir)
    closedir (dir);
  return found;
}

static void
write_all (int fd, const void *data, gsize len)
{
  const guint8 *p = data;

  while (len > 0)
    {
      gssize n = write (fd, p, len);
      if (n <= 0)
        _exit (9);
      p += n;
      len -= n;
    }
}

static void
write_frame (int fd, guint8 type, guint64 id, const void *body, guint32 size)
{
  guint8 header[16] = { 0 };
  guint32 size_le = GUINT32_TO_LE (size);
  guint64 id_le = GUINT64_TO_LE (id);

  memcpy (header, &size_le, 4);
  header[4] = type;
  memcpy (header + 8, &id_le, 8);
  write_all (fd, header, sizeof header);
  if (size && body)
    {
      static const guint8 zeros[8] = { 0 };

      write_all (fd, body, size);
      write_all (fd, zeros, (8 - size % 8) % 8);
    }
}

/* hostile (s how): breaks the protocol on purpose, on the channel itself.
 *   garbage      random-looking bytes
 *   huge         a header that claims a 4 GiB body
 *   wrong-type   a result frame whose body is not a `v`
 *   unknown-id   a result for a request it was never given
 *   late-types   a TYPES frame long after the hello
 *   truncated    half a frame, then silence */
static GVariant *
task_hostile (GVariant *args, GCancellable *cancellable, gpointer user_data, GError **error)
{
  int fd = find_channel ();
  const char *how;

  g_variant_get (args, "(&s)", &how);
  if (fd < 0)
    _exit (8);

  if (g_str_equal (how, "garbage"))
    write_all (fd, "\xff\xfe\xfd\xfc this is not a frame at all, not at all", 41);
  else if (g_str_equal (how, "huge"))
    write_frame (fd, 3, 1, NULL, G_MAXUINT32);
  else if (g_str_equal (how, "wrong-type"))
    write_frame (fd, 3, 1, "\x01\x02\x03", 3);
  else if (g_str_equal (how, "unknown-id"))
    {
      g_autoptr(GVariant) body = g_variant_ref_sink (g_variant_new_variant (g_variant_new ("()")));
      write_frame (fd, 3, 987654321, g_variant_get_data (body), g_variant_get_size (body));
    }
  else if (g_str_equal (how, "late-types"))
    {
      g_autoptr(GVariant) body = g_variant_ref_sink (g_variant_new_parsed ("[('echo', '(s)', '')]"));
      write_frame (fd, 10, 0, g_variant_get_data (body), g_variant_get_size (body));
    }
  else if (g_str_equal (how, "truncated"))
    write_all (fd, "\x10\x00\x00\x00\x03\x00\x00\x00", 8);

  /* Wait to be killed. */
  for (;;)
    g_usleep (G_USEC_PER_SEC);
  return NULL;
}

/* hostile-feed (sts how, id, path): writes its pid to @path (if not
 * empty), then breaks the rules of progress and partial values for request
 * @id (its own: the caller knows it), on the channel:
 *   progress-nan     a PROGRESS whose fraction is NaN
 *   partial-unknown  a PARTIAL for a request it was never given
 *   partial-flood    17 PARTIALs, not waiting for acknowledgements */
static GVariant *
task_hostile_feed (GVariant *args, GCancellable *cancellable, gpointer user_data, GError **error)
{
  int fd = find_channel ();
  const char *how, *path;
  guint64 id;

  g_variant_get (args, "(&st&s)", &how, &id, &path);
  if (fd < 0)
    _exit (8);
  if (*path)
    {
      g_autofree char *pid = g_strdup_printf ("%d", (int) getpid ());
      g_file_set_contents (path, pid, -1, NULL);
    }

  if (g_str_equal (how, "progress-nan"))
    {
      g_autoptr(GVariant) body = g_variant_ref_sink (g_variant_new ("(ds)", NAN, ""));
      write_frame (fd, 7, id, g_variant_get_data (body), g_variant_get_size (body));
    }
  else if (g_str_equal (how, "partial-unknown") || g_str_equal (how, "partial-flood"))
    {
      g_autoptr(GVariant) body = g_variant_ref_sink (g_variant_new_variant (g_variant_new ("()")));
      gboolean flood = g_str_equal (how, "partial-flood");

      for (guint i = 0; i < (flood ? 17 : 1); i++)
        write_frame (fd, 8, flood ? id : id + 1000, g_variant_get_data (body),
                     g_variant_get_size (body));
    }

  /* Wait to be killed. */
  for (;;)
    g_usleep (G_USEC_PER_SEC);
  return NULL;
}

/* burn (ut rounds, seed): a CPU-bound task with a checkable answer: @rounds
 * steps of xorshift64 from @seed, returned as (t). Looks at its cancellable
 * every 65536 rounds. */
static GVariant *
task_burn (GVariant *args, GCancellable *cancellable, gpointer user_data, GError **error)
{
  guint32 rounds;
  guint64 x;

  g_variant_get (args, "(ut)", &rounds, &x);
  for (guint32 i = 0; i < rounds; i++)
    {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      if ((i & 0xffff) == 0 && g_cancellable_set_error_if_cancelled (cancellable, error))
        return NULL;
    }
  return g_variant_new ("(t)", x);
}

/* wrap: returns (v) holding its arguments, as a task that puts the
 * (borrowed) args it was given into a container does. */
static GVariant *
task_wrap (GVariant *args, GCancellable *cancellable, gpointer user_data, GError **error)
{
  return g_variant_new ("(v)", args);
}

/* first: returns the first element of its arguments (its `ay` for `(ay)`). */
static GVariant *
task_first (GVariant *args, GCancellable *cancellable, gpointer user_data, GError **error)
{
  return g_variant_get_child_value (args, 0);
}

/* args-floating: returns (b) whether the args this task was handed are a
 * floating reference (they must not be: a container would sink them). */
static GVariant *
task_args_floating (GVariant *args, GCancellable *cancellable, gpointer user_data, GError **error)
{
  return g_variant_new ("(b)", g_variant_is_floating (args));
}

/* later (s path, u msec, u value): an asynchronous task. Writes its pid to
 * @path (if not empty), then returns (u) @value after @msec from the main
 * loop, or G_IO_ERROR_CANCELLED as soon as it is cancelled. */
typedef struct
{
  ACpuWorker   *worker;
  GCancellable *cancellable;
  GSource      *timeout;
  GSource      *cancelled;
  guint32       value;
} Later;

static void
later_finish (Later        *later,
              const GError *error)
{
  if (error != NULL)
    acpu_worker_return_gerror (later->worker, error);
  else
    acpu_worker_return_value (later->worker, g_variant_new ("(u)", later->value));
  g_source_destroy (later->timeout);
  g_source_unref (later->timeout);
  g_source_destroy (later->cancelled);
  g_source_unref (later->cancelled);
  g_object_unref (later->cancellable);
  g_free (later);
}

static gboolean
later_timeout_cb (gpointer data)
{
  later_finish (data, NULL);
  return G_SOURCE_REMOVE;
}

static gboolean
later_cancelled_cb (GCancellable *cancellable,
                    gpointer      data)
{
  g_autoptr(GError) error = g_error_new_literal (G_IO_ERROR, G_IO_ERROR_CANCELLED, "Stopped");

  later_finish (data, error);
  return G_SOURCE_REMOVE;
}

static void
task_later (ACpuWorker *worker, GVariant *args, GCancellable *cancellable, gpointer user_data)
{
  Later *later = g_new0 (Later, 1);
  const char *path;
  guint32 msec;

  g_variant_get (args, "(&suu)", &path, &msec, &later->value);
  if (*path != '\0')
    {
      g_autofree char *pid = g_strdup_printf ("%d", (int) getpid ());
      g_file_set_contents (path, pid, -1, NULL);
    }
  later->worker = worker;
  later->cancellable = g_object_ref (cancellable);
  later->timeout = g_timeout_source_new (msec);
  g_source_set_callback (later->timeout, later_timeout_cb, later, NULL);
  g_source_attach (later->timeout, NULL);
  /* In the main context: a GCancellableSource, not the signal, which the
   * control thread emits. */
  later->cancelled = g_cancellable_source_new (cancellable);
  g_source_set_callback (later->cancelled, G_SOURCE_FUNC (later_cancelled_cb), later, NULL);
  g_source_attach (later->cancelled, NULL);
}

/* stream-async (u n): an asynchronous task that, from an idle of the main
 * loop, reports progress and sends n partial values (uxay) as "stream" does
 * (waiting for room in the window, the main loop blocked meanwhile), then
 * returns (u) n. */
static gboolean
stream_async_idle_cb (gpointer user_data)
{
  ACpuWorker *worker = acpu_worker_get_running ();
  guint32 n = GPOINTER_TO_UINT (user_data);
  g_autoptr(GError) error = NULL;

  for (guint32 i = 0; i < n && error == NULL; i++)
    {
      acpu_worker_report_progress (worker, (double) (i + 1) / n, "streaming");
      acpu_worker_send_partial (worker,
                                g_variant_new ("(ux@ay)", i, g_get_monotonic_time (),
                                               g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE,
                                                                          "", 0, 1)),
                                &error);
    }
  if (error != NULL)
    acpu_worker_return_gerror (worker, error);
  else
    acpu_worker_return_value (worker, g_variant_new ("(u)", n));
  return G_SOURCE_REMOVE;
}

static void
task_stream_async (ACpuWorker *worker, GVariant *args, GCancellable *cancellable,
                   gpointer user_data)
{
  guint32 n;

  g_variant_get (args, "(u)", &n);
  g_idle_add (stream_async_idle_cb, GUINT_TO_POINTER (n));
}

/* now (s domain, i code, s message): an asynchronous task that returns
 * before its function does: (s "now") when @domain is empty, else that error. */
static void
task_now (ACpuWorker *worker, GVariant *args, GCancellable *cancellable, gpointer user_data)
{
  const char *domain, *message;
  gint32 code;

  g_variant_get (args, "(&si&s)", &domain, &code, &message);
  if (*domain == '\0')
    {
      /* Not floating: the worker takes a reference of its own. */
      g_autoptr(GVariant) value = g_variant_ref_sink (g_variant_new ("(s)", "now"));

      acpu_worker_return_value (worker, value);
      g_assert_cmpstr (g_variant_get_type_string (value), ==, "(s)");
    }
  else
    acpu_worker_return_error (worker, domain, code, message);
}

/* confinement (si file, parent pid): what a sandboxed task can do:
 * (bbbbb) it read @file, it opened an AF_INET socket, it sees process
 * @parent (/proc or kill (0)), it has a controlling terminal, it opened an
 * AF_INET6 socket. */
static GVariant *
task_confinement (GVariant *args, GCancellable *cancellable, gpointer user_data, GError **error)
{
  g_autofree char *contents = NULL;
  g_autofree char *proc = NULL;
  const char *file;
  gint32 parent;
  gboolean read_file, inet, inet6, sees_parent, tty;
  int fd;

  g_variant_get (args, "(&si)", &file, &parent);
  read_file = g_file_get_contents (file, &contents, NULL, NULL);
  fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  inet = fd >= 0;
  if (fd >= 0)
    close (fd);
  fd = socket (AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  inet6 = fd >= 0;
  if (fd >= 0)
    close (fd);
  proc = g_strdup_printf ("/proc/%d", (int) parent);
  sees_parent = g_file_test (proc, G_FILE_TEST_EXISTS) || kill (parent, 0) == 0;
  fd = open ("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
  tty = fd >= 0;
  if (fd >= 0)
    close (fd);
  return g_variant_new ("(bbbbb)", read_file, inet, sees_parent, tty, inet6);
}

/* session: where the worker stands towards terminals and scheduling:
 * (iis) the errno of opening /dev/tty (0: it opened), whether it leads its
 * session, and /proc/self/autogroup ("" where there is none). */
static GVariant *
task_session (GVariant *args, GCancellable *cancellable, gpointer user_data, GError **error)
{
  g_autofree char *autogroup = NULL;
  int fd = open ("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
  int err = fd < 0 ? errno : 0;

  if (fd >= 0)
    close (fd);
  if (!g_file_get_contents ("/proc/self/autogroup", &autogroup, NULL, NULL))
    autogroup = g_strdup ("");
  return g_variant_new ("(iis)", (gint32) err, (gint32) (getsid (0) == getpid ()), autogroup);
}

/* (x) → (x): declared so; the worker checks both before and after. */
static GVariant *
task_square (GVariant      *args,
             GCancellable  *cancellable,
             gpointer       user_data,
             GError       **error)
{
  gint64 x;

  g_variant_get (args, "(x)", &x);
  return g_variant_new ("(x)", x * x);
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(ACpuWorker) worker = acpu_worker_new ();

  g_set_prgname ("acpu-test-worker");

  acpu_worker_register (worker, "echo", task_echo, NULL, NULL);
  acpu_worker_register (worker, "confinement", task_confinement, NULL, NULL);
  acpu_worker_register (worker, "session", task_session, NULL, NULL);
  acpu_worker_register (worker, "pid", task_pid, NULL, NULL);
  acpu_worker_register (worker, "progress", task_progress, NULL, NULL);
  acpu_worker_register (worker, "stream", task_stream, NULL, NULL);
  acpu_worker_register (worker, "sleep", task_sleep, NULL, NULL);
  acpu_worker_register (worker, "spin", task_spin, NULL, NULL);
  acpu_worker_register (worker, "wait-cancel", task_wait_cancel, NULL, NULL);
  acpu_worker_register (worker, "crash", task_crash, NULL, NULL);
  acpu_worker_register (worker, "error", task_error, NULL, NULL);
  acpu_worker_register (worker, "null", task_null, NULL, NULL);
  acpu_worker_register (worker, "print", task_print, NULL, NULL);
  acpu_worker_register (worker, "bytes", task_bytes, NULL, NULL);
  acpu_worker_register (worker, "log", task_log, NULL, NULL);
  acpu_worker_register (worker, "log-hostile", task_log_hostile, NULL, NULL);
  acpu_worker_register (worker, "grandchild", task_grandchild, NULL, NULL);
  acpu_worker_register (worker, "hostile", task_hostile, NULL, NULL);
  acpu_worker_register (worker, "hostile-feed", task_hostile_feed, NULL, NULL);
  acpu_worker_register (worker, "say-and-abort", task_say_and_abort, NULL, NULL);
  acpu_worker_register (worker, "burn", task_burn, NULL, NULL);
  acpu_worker_register (worker, "wrap", task_wrap, NULL, NULL);
  acpu_worker_register (worker, "first", task_first, NULL, NULL);
  acpu_worker_register (worker, "args-floating", task_args_floating, NULL, NULL);
  acpu_worker_register_async (worker, "later", task_later, NULL, NULL);
  acpu_worker_register_async (worker, "stream-async", task_stream_async, NULL, NULL);
  acpu_worker_register_async (worker, "now", task_now, NULL, NULL);
  acpu_worker_register (worker, "square", task_square, NULL, NULL);
  acpu_worker_set_task_types (worker, "square", "(x)", "(x)");
  /* Declares a result type that echo, which returns its arguments, may miss. */
  acpu_worker_register (worker, "typed-echo", task_echo, NULL, NULL);
  acpu_worker_set_task_types (worker, "typed-echo", "(*)", "(s)");

  return acpu_worker_run (worker);
}
