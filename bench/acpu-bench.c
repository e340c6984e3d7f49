/* acpu-bench.c — asynccpu-glib against the floor the machine sets, and
 * (in full mode) against the peers, in one run.
 *
 * Usage: acpu-bench [--quick] [--no-peers] [--only=LIST]
 *
 * Prints one `name: value` line per figure (names from issue 5), each
 * project figure measured in the same run as its baseline, with project and
 * baseline trials interleaved and the median of the trials reported. Lines
 * starting with `#` are comments (trial counts, machine load).
 *
 * Workloads (see docs/performance.md):
 *   rtt        sequential round trip of `trivial` through a 2-worker pool
 *              (run_async from a GMainLoop, next task from the callback) vs
 *              a 2-process socketpair ping-pong of 32-byte messages
 *   throughput 100,000 `trivial` submitted at once from one main-loop
 *              callback, 2 workers, until the last callback, vs the same
 *              function through g_task_run_in_thread
 *   lateness   a 1 ms g_timeout on the caller's loop while 100,000 tasks are
 *              submitted 0.5 ms worth per idle iteration (the way a GTK app
 *              that keeps its frames would) and run; also reported for the
 *              one-burst run, where the loop is blocked for the whole submit;
 *              and its floor: the same ticker, as long, while two plain
 *              CPU-bound processes that are not the pool's run
 *   echo64     a 64 MiB `(ay)` argument returned as the result vs sending
 *              64 MiB to a child over a socketpair and reading it back
 *              (store and forward: the child has it all before answering)
 *   cold       pool_new → first result vs fork+exec of acpu-bench-hello (a
 *              GIO-linked program) to its first byte
 *   scaling    tasks of ≥ 100 ms of CPU through 2 workers vs 1
 *   overhead   the same tasks through a 1-worker pool vs in-process calls
 *   memory     PSS of an idle bench worker; parent heap growth per queued
 *              task with 100,000 queued behind a blocked worker
 *   progress   a task reporting progress every ~10 µs vs the same task
 *              silent; partial values streamed by one task; and the lateness
 *              ticker while the pool keeps 2 workers flat out with such tasks
 *              (lateness_workers_*), alternating with its floor
 *   launchers  rtt, throughput and a 16 MiB echo through the bwrap sandbox,
 *              ssh and srun, beside the same figures direct (launcher_*)
 *
 * Experiments, read from the environment: ACPU_BENCH_WORKER_NICE=N and
 * ACPU_BENCH_WORKER_BATCH=1|idle (the bench workers' and the floors'
 * spinners' priority), ACPU_BENCH_TICKER=timerfd (every lateness ticker a
 * timerfd, free of GLib's rounding of poll timeouts; see ticker_start()).
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <math.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <glib-unix.h>

#include <asynccpu-glib.h>

#include "acpu-bench-cpu.h"

#define N_THROUGHPUT   100000
#define CHUNK_BUDGET_US 500    /* chunked submission: per idle iteration */
#define ECHO_SIZE      (64u * 1024 * 1024)
#define PING_SIZE      32

static gboolean opt_quick;
static gboolean opt_no_peers;
static char *opt_only;
static char *bench_dir;       /* where acpu-bench-worker and -hello are */
static char *worker_argv[2];

/* Helpers ------------------------------------------------------------------ */

static gint64
now_us (void)
{
  return g_get_monotonic_time ();
}

/* How long the calling thread has waited on a run queue (runnable, not
 * running), in microseconds: /proc/thread-self/schedstat, second field. */
static gint64
thread_runq_wait_us (void)
{
  g_autofree char *contents = NULL;
  unsigned long long run = 0, wait = 0;

  if (g_file_get_contents ("/proc/thread-self/schedstat", &contents, NULL, NULL))
    sscanf (contents, "%llu %llu", &run, &wait);
  return (gint64) (wait / 1000);
}

/* CPU time of the calling thread, in microseconds. */
static gint64
thread_cpu_us (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_THREAD_CPUTIME_ID, &ts);
  return (gint64) ts.tv_sec * G_USEC_PER_SEC + ts.tv_nsec / 1000;
}

static int
cmp_double (const void *a, const void *b)
{
  double x = *(const double *) a, y = *(const double *) b;
  return x < y ? -1 : x > y;
}

/* The finite values of @values, sorted: a trial that failed (NAN) is left
 * out of every summary. */
static GArray *
finite_sorted (GArray *values)
{
  GArray *copy = g_array_new (FALSE, FALSE, sizeof (double));

  for (guint i = 0; i < values->len; i++)
    if (isfinite (g_array_index (values, double, i)))
      g_array_append_val (copy, g_array_index (values, double, i));
  g_array_sort (copy, cmp_double);
  return copy;
}

/* The median of the finite values, NAN when there is none (printed as a
 * failure, never as 0). */
static double
median (GArray *values)
{
  g_autoptr(GArray) copy = finite_sorted (values);
  guint n = copy->len;

  if (n == 0)
    return NAN;
  if (n % 2 == 1)
    return g_array_index (copy, double, n / 2);
  return (g_array_index (copy, double, n / 2 - 1) + g_array_index (copy, double, n / 2)) / 2;
}

static double
percentile (GArray *values, double p)
{
  g_autoptr(GArray) copy = finite_sorted (values);
  guint i;

  if (copy->len == 0)
    return NAN;
  i = (guint) (p / 100.0 * (copy->len - 1) + 0.5);
  return g_array_index (copy, double, MIN (i, copy->len - 1));
}

/* @a / @b for two measured times or rates: NAN (a failed figure) unless both
 * are positive and finite, so a probe that measured nothing never becomes a
 * ratio of 0 or inf. */
static double
ratio (double a, double b)
{
  if (!(isfinite (a) && isfinite (b) && a > 0 && b > 0))
    return NAN;
  return a / b;
}

/* How much longer @a took than @base, in percent; NAN unless @base is a
 * positive time. */
static double
overhead_pct (double a, double base)
{
  if (!(isfinite (a) && isfinite (base) && a > 0 && base > 0))
    return NAN;
  return (a - base) / base * 100.0;
}

static void
add (GArray *a, double v)
{
  g_array_append_val (a, v);
}

static GArray *
new_values (void)
{
  return g_array_new (FALSE, FALSE, sizeof (double));
}

/* One `name: value` line; a value that is not a number (a failed probe, a
 * ratio with nothing to divide by) becomes a `# name: failed` comment, so
 * a reader or a script never takes inf, nan or a 0 from a failure for a
 * figure. */
static void
print_value (const char *name, double value, int decimals)
{
  if (isfinite (value))
    printf ("%s: %.*f\n", name, decimals, value);
  else
    printf ("# %s: failed (no valid measurement)\n", name);
  fflush (stdout);
}

static void
print_trials (const char *name, GArray *values, int decimals)
{
  g_autoptr(GString) s = g_string_new (NULL);

  for (guint i = 0; i < values->len; i++)
    {
      double v = g_array_index (values, double, i);

      if (i > 0)
        g_string_append_c (s, ' ');
      if (isfinite (v))
        g_string_append_printf (s, "%.*f", decimals, v);
      else
        g_string_append (s, "failed");
    }
  printf ("# %s trials: %s\n", name, s->str);
}

static gboolean
want (const char *what)
{
  g_auto(GStrv) parts = NULL;

  if (opt_only == NULL)
    return TRUE;
  parts = g_strsplit (opt_only, ",", -1);
  return g_strv_contains ((const char * const *) parts, what);
}

static void
print_load (const char *when)
{
  g_autofree char *contents = NULL;

  if (g_file_get_contents ("/proc/loadavg", &contents, NULL, NULL))
    printf ("# load %s: %s", when, contents);
}

static gboolean
write_all (int fd, const void *buf, gsize len)
{
  const char *p = buf;

  while (len > 0)
    {
      ssize_t n = write (fd, p, len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return FALSE;
      p += n;
      len -= n;
    }
  return TRUE;
}

static gboolean
read_all (int fd, void *buf, gsize len)
{
  char *p = buf;

  while (len > 0)
    {
      ssize_t n = read (fd, p, len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return FALSE;
      p += n;
      len -= n;
    }
  return TRUE;
}

/* Main loop helpers. */

static GMainContext *main_ctx;

static void
iterate_until (const gboolean *done)
{
  while (!*done)
    g_main_context_iteration (main_ctx, TRUE);
}

static void
iterate_for (guint msec)
{
  gint64 end = now_us () + msec * 1000;

  while (now_us () < end)
    {
      while (g_main_context_iteration (main_ctx, FALSE))
        ;
      g_usleep (1000);
    }
}

/* The floor children, forked before any thread exists. */

typedef struct
{
  GPid pid;
  int  fd;
} Child;

static Child ping_child = { 0, -1 };
static Child echo_child = { 0, -1 };

G_GNUC_NORETURN static void
ping_child_main (int fd)
{
  char buf[PING_SIZE];

  while (read_all (fd, buf, sizeof buf))
    if (!write_all (fd, buf, sizeof buf))
      break;
  _exit (0);
}

/* Reads a length, then that many bytes, then writes them all back. */
G_GNUC_NORETURN static void
echo_child_main (int fd)
{
  guint64 len, cap = 0;
  char *buf = NULL;

  /* One buffer, kept: the floor is the copying, not the page faults of a
   * fresh 64 MiB allocation each time. */
  while (read_all (fd, &len, sizeof len))
    {
      if (len > cap)
        {
          free (buf);
          buf = malloc (len);
          cap = len;
        }
      if (buf == NULL || !read_all (fd, buf, len) || !write_all (fd, buf, len))
        _exit (1);
    }
  _exit (0);
}

static void
fork_child (Child *child, void (*child_main) (int))
{
  int sv[2];

  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
    g_error ("socketpair: %s", g_strerror (errno));
  child->pid = fork ();
  if (child->pid < 0)
    g_error ("fork: %s", g_strerror (errno));
  if (child->pid == 0)
    {
      /* Only our own end: an inherited end of another child's channel
       * would keep that child from ever seeing EOF. */
      if (ping_child.fd >= 0)
        close (ping_child.fd);
      if (echo_child.fd >= 0)
        close (echo_child.fd);
      close (sv[0]);
      child_main (sv[1]);
    }
  close (sv[1]);
  child->fd = sv[0];
}

static void
end_child (Child *child)
{
  if (child->fd >= 0)
    close (child->fd);
  if (child->pid > 0)
    waitpid (child->pid, NULL, 0);
  child->fd = -1;
  child->pid = 0;
}

/* Pool helpers ------------------------------------------------------------- */

typedef struct
{
  guint     pending;
  guint     errors;
  gboolean  done;
  gint64    last_time;
  GVariant *last_value;
} Counter;

static void
counter_cb (GObject *object, GAsyncResult *result, gpointer user_data)
{
  Counter *c = user_data;
  g_autoptr(GError) error = NULL;
  GVariant *value = acpu_process_task_pool_run_finish (ACPU_PROCESS_TASK_POOL (object), result, &error);

  if (value == NULL)
    {
      if (c->errors++ == 0 && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_printerr ("task failed: %s\n", error->message);
    }
  if (c->last_value != NULL)
    g_variant_unref (c->last_value);
  c->last_value = value;
  if (--c->pending == 0)
    {
      c->done = TRUE;
      c->last_time = now_us ();
    }
}

static void
counter_clear (Counter *c)
{
  g_clear_pointer (&c->last_value, g_variant_unref);
}

static ACpuProcessTaskPool *
pool_new (guint max_workers)
{
  return acpu_process_task_pool_new ((const char * const *) worker_argv, max_workers);
}

static void
pool_run_many (ACpuProcessTaskPool *pool, const char *name, GVariant *args, guint n)
{
  Counter c = { .pending = n };

  if (args != NULL)
    g_variant_ref_sink (args);
  for (guint i = 0; i < n; i++)
    acpu_process_task_pool_run_async (pool, name, args, NULL, counter_cb, &c);
  iterate_until (&c.done);
  if (c.errors > 0)
    g_error ("%u of %u warm-up tasks failed", c.errors, n);
  counter_clear (&c);
  if (args != NULL)
    g_variant_unref (args);
}

static void
pool_shutdown (ACpuProcessTaskPool *pool)
{
  g_autoptr(GError) error = NULL;

  if (!acpu_process_task_pool_shutdown (pool, NULL, &error))
    g_printerr ("shutdown: %s\n", error->message);
  g_object_unref (pool);
}

/* rtt ---------------------------------------------------------------------- */

typedef struct
{
  ACpuProcessTaskPool *pool;
  guint                left;
  gboolean             done;
} Chain;

static void
chain_cb (GObject *object, GAsyncResult *result, gpointer user_data)
{
  Chain *chain = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = acpu_process_task_pool_run_finish (chain->pool, result, &error);

  if (value == NULL)
    g_error ("trivial: %s", error->message);
  if (--chain->left == 0)
    chain->done = TRUE;
  else
    acpu_process_task_pool_run_async (chain->pool, "trivial", NULL, NULL, chain_cb, chain);
}

static double
rtt_project_trial (ACpuProcessTaskPool *pool, guint n)
{
  Chain chain = { pool, n, FALSE };
  gint64 start = now_us ();

  acpu_process_task_pool_run_async (pool, "trivial", NULL, NULL, chain_cb, &chain);
  iterate_until (&chain.done);
  return (double) (now_us () - start) / n;
}

static double
rtt_sync_trial (ACpuProcessTaskPool *pool, guint n)
{
  gint64 start = now_us ();

  for (guint i = 0; i < n; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autoptr(GVariant) value = acpu_process_task_pool_run (pool, "trivial", NULL, NULL, &error);

      if (value == NULL)
        g_error ("trivial: %s", error->message);
    }
  return (double) (now_us () - start) / n;
}

static double
rtt_floor_trial (guint n)
{
  char buf[PING_SIZE] = { 0 };
  gint64 start = now_us ();

  for (guint i = 0; i < n; i++)
    if (!write_all (ping_child.fd, buf, sizeof buf) || !read_all (ping_child.fd, buf, sizeof buf))
      g_error ("ping-pong child is gone");
  return (double) (now_us () - start) / n;
}

static void
bench_rtt (void)
{
  guint trials = opt_quick ? 5 : 15, n = opt_quick ? 500 : 2000;
  g_autoptr(GArray) project = new_values ();
  g_autoptr(GArray) sync = new_values ();
  g_autoptr(GArray) floor_ = new_values ();
  ACpuProcessTaskPool *pool = pool_new (2);
  double p, f;

  pool_run_many (pool, "trivial", NULL, 2);
  rtt_project_trial (pool, 200);
  rtt_floor_trial (200);

  for (guint t = 0; t < trials; t++)
    {
      add (floor_, rtt_floor_trial (n));
      add (project, rtt_project_trial (pool, n));
      add (sync, rtt_sync_trial (pool, n / 2));
    }
  pool_shutdown (pool);

  p = median (project);
  f = median (floor_);
  printf ("# rtt: %u trials of %u sequential round trips, interleaved\n", trials, n);
  print_trials ("rtt_us", project, 1);
  print_trials ("rtt_floor_us", floor_, 1);
  print_value ("rtt_us", p, 1);
  print_value ("rtt_floor_us", f, 1);
  print_value ("rtt_ratio", ratio (p, f), 2);
  print_value ("rtt_sync_us", median (sync), 1);
}

/* throughput and lateness -------------------------------------------------- */

/* The 1 ms ticker whose lateness every lateness figure reports. By default
 * a g_timeout_add (1), what an application would use. GLib rounds a poll
 * timeout *up* to whole milliseconds, so when anything else wakes the loop
 * between two ticks, the next tick can come up to 1 ms late with the
 * machine idle. ACPU_BENCH_TICKER=timerfd makes every ticker (floors
 * included) a periodic timerfd that the loop watches, late from the
 * expiry itself: what is left is the loop's and the scheduler's own. */
typedef struct
{
  GArray  *late_ms;
  gint64   last;      /* g_timeout: the last tick */
  int      fd;        /* timerfd, or -1 */
  gint64   start;     /* timerfd: armed at */
  guint64  expired;   /* timerfd: expiries handled */
} Ticker;

static gboolean
ticker_cb (gpointer user_data)
{
  Ticker *t = user_data;
  gint64 now = now_us ();

  if (t->last != 0)
    add (t->late_ms, MAX (0.0, (double) (now - t->last - 1000) / 1000.0));
  t->last = now;
  return G_SOURCE_CONTINUE;
}

static gboolean
ticker_fd_cb (int fd, GIOCondition condition, gpointer user_data)
{
  Ticker *t = user_data;
  gint64 now = now_us ();
  guint64 n;

  if (read (fd, &n, sizeof n) != sizeof n)
    return G_SOURCE_CONTINUE;
  /* Late from the first expiry this callback had not seen. */
  add (t->late_ms, MAX (0.0, (double) (now - t->start - (gint64) (t->expired + 1) * 1000) / 1000.0));
  t->expired += n;
  return G_SOURCE_CONTINUE;
}

/* [main]: starts @t on main_ctx; returns its source id for ticker_stop(). */
static guint
ticker_start (Ticker *t)
{
  struct itimerspec every_ms = { .it_interval.tv_nsec = 1000000, .it_value.tv_nsec = 1000000 };

  t->fd = -1;
  if (g_strcmp0 (g_getenv ("ACPU_BENCH_TICKER"), "timerfd") != 0)
    return g_timeout_add (1, ticker_cb, t);
  t->fd = timerfd_create (CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (t->fd < 0 || timerfd_settime (t->fd, 0, &every_ms, NULL) < 0)
    g_error ("timerfd: %s", g_strerror (errno));
  t->start = now_us ();
  t->expired = 0;
  return g_unix_fd_add (t->fd, G_IO_IN, ticker_fd_cb, t);
}

/* [main] */
static void
ticker_stop (Ticker *t, guint id)
{
  g_source_remove (id);
  if (t->fd >= 0)
    close (t->fd);
}

typedef struct
{
  ACpuProcessTaskPool *pool;
  Counter             *counter;
  guint                submitted;
  guint                total;
  gboolean             burst;
  gint64               submit_start;
  gint64               submit_end;
  double               max_block_ms;
  gint64               cpu_us;
} Submitter;

static void gtask_submit (Counter *c);

/* One task: through the pool, or (no pool) through GLib's thread pool. */
static void
submit_one (Submitter *s)
{
  if (s->pool != NULL)
    acpu_process_task_pool_run_async (s->pool, "trivial", NULL, NULL, counter_cb, s->counter);
  else
    gtask_submit (s->counter);
}

static gboolean
submit_cb (gpointer user_data)
{
  Submitter *s = user_data;
  gint64 start = now_us ();
  gint64 cpu = thread_cpu_us ();

  if (s->submitted == 0)
    s->submit_start = start;
  /* A burst submits everything; a chunk submits for CHUNK_BUDGET_US, as an
   * app that keeps its frames would (checking the clock every 16). */
  while (s->submitted < s->total)
    {
      submit_one (s);
      if ((++s->submitted & 15) == 0 && !s->burst && now_us () - start >= CHUNK_BUDGET_US)
        break;
    }
  s->cpu_us += thread_cpu_us () - cpu;
  s->max_block_ms = MAX (s->max_block_ms, (double) (now_us () - start) / 1000.0);
  if (s->submitted < s->total)
    return G_SOURCE_CONTINUE;
  s->submit_end = now_us ();
  return G_SOURCE_REMOVE;
}

typedef struct
{
  double   rate;
  double   submit_ms;
  double   max_block_ms;
  double   submit_cpu_us;   /* caller-thread CPU per task in run_async */
  double   caller_cpu_us;   /* caller-thread CPU per task in all */
  double   runq_wait_pct;   /* caller thread runnable but not running */
  GArray  *late_ms;
} ThroughputResult;

/* Submits @total trivial tasks from the loop, all from one callback (@burst)
 * or CHUNK_BUDGET_US worth per idle iteration, with a 1 ms ticker running
 * throughout. With no @pool, to GLib's thread pool: the baseline. */
static ThroughputResult
throughput_project_trial (ACpuProcessTaskPool *pool, guint total, gboolean burst)
{
  Counter c = { .pending = total };
  Submitter s = { pool, &c, 0, total, burst, 0, 0, 0, 0 };
  gint64 cpu0 = thread_cpu_us ();
  gint64 wait0 = thread_runq_wait_us ();
  gint64 wall0 = now_us ();
  Ticker ticker = { new_values (), 0 };
  ThroughputResult r;
  guint tick_id, submit_id;

  tick_id = ticker_start (&ticker);
  iterate_for (5);
  submit_id = g_idle_add_full (burst ? G_PRIORITY_DEFAULT : G_PRIORITY_DEFAULT_IDLE,
                               submit_cb, &s, NULL);
  (void) submit_id;
  iterate_until (&c.done);
  ticker_stop (&ticker, tick_id);
  if (c.errors > 0)
    g_error ("%u of %u throughput tasks failed", c.errors, total);
  counter_clear (&c);

  r.rate = total / ((double) (c.last_time - s.submit_start) / G_USEC_PER_SEC);
  r.submit_ms = (double) (s.submit_end - s.submit_start) / 1000.0;
  r.max_block_ms = s.max_block_ms;
  r.late_ms = ticker.late_ms;
  r.submit_cpu_us = (double) s.cpu_us / total;
  r.caller_cpu_us = (double) (thread_cpu_us () - cpu0) / total;
  r.runq_wait_pct = (double) (thread_runq_wait_us () - wait0) * 100.0 / (double) (now_us () - wall0);
  return r;
}

/* The baseline: the same function in GLib's thread pool. */
static GVariant *
trivial_func (void)
{
  return g_variant_new ("(i)", (gint32) getpid ());
}

static void
gtask_thread_func (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  g_task_return_pointer (task, g_variant_ref_sink (trivial_func ()), (GDestroyNotify) g_variant_unref);
}

static void
gtask_done_cb (GObject *object, GAsyncResult *result, gpointer user_data)
{
  Counter *c = g_task_get_task_data (G_TASK (result));
  GVariant *value = g_task_propagate_pointer (G_TASK (result), NULL);

  g_clear_pointer (&value, g_variant_unref);
  if (--c->pending == 0)
    {
      c->done = TRUE;
      c->last_time = now_us ();
    }
}

/* The same function in GLib's thread pool, counted in @c. */
static void
gtask_submit (Counter *c)
{
  GTask *task = g_task_new (NULL, NULL, gtask_done_cb, NULL);

  g_task_set_task_data (task, c, NULL);
  g_task_run_in_thread (task, gtask_thread_func);
  g_object_unref (task);
}

static double
throughput_gtask_trial (guint total)
{
  Counter c = { .pending = total };
  gint64 start = now_us ();

  for (guint i = 0; i < total; i++)
    gtask_submit (&c);
  iterate_until (&c.done);
  return total / ((double) (c.last_time - start) / G_USEC_PER_SEC);
}

/* The lateness floor: what the machine gives a 1 ms ticker when two other
 * processes keep the CPUs busy, without any pool. */

/* Main thread. Forks a process that burns a CPU until it is killed (and dies
 * with this one: PR_SET_PDEATHSIG). This process has threads by now, so the
 * child makes system calls only. It gets the bench workers' niceness and
 * policy (ACPU_BENCH_WORKER_NICE, ACPU_BENCH_WORKER_BATCH, read here by the
 * parent), so the floor stays comparable when those experiments are on. */
static GPid
spinner_start (void)
{
  const char *nice_value = g_getenv ("ACPU_BENCH_WORKER_NICE");
  const char *batch = g_getenv ("ACPU_BENCH_WORKER_BATCH");
  int niceness = nice_value != NULL ? atoi (nice_value) : 0;
  int policy = batch == NULL ? -1 : g_str_equal (batch, "idle") ? SCHED_IDLE : SCHED_BATCH;
  GPid pid;

  fflush (stdout);
  pid = fork ();
  if (pid < 0)
    g_error ("fork: %s", g_strerror (errno));
  if (pid == 0)
    {
      struct sched_param param = { 0 };
      volatile guint64 x = 0;

      prctl (PR_SET_PDEATHSIG, SIGKILL);
      if (niceness != 0)
        (void) setpriority (PRIO_PROCESS, 0, niceness);
      if (policy >= 0)
        (void) sched_setscheduler (0, policy, &param);
      for (;;)
        x++;
    }
  return pid;
}

/* Main thread: ends and reaps a spinner. */
static void
spinner_stop (GPid pid)
{
  kill (pid, SIGKILL);
  waitpid (pid, NULL, 0);
}

static gboolean
set_true_cb (gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Main thread, main_ctx: the ticker of throughput_project_trial() for
 * @msec, the loop doing nothing else, while two spinners run. Returns the
 * ticks' lateness in ms. */
static GArray *
lateness_floor_trial (guint msec)
{
  Ticker ticker = { new_values (), 0 };
  gboolean done = FALSE;
  GPid a = spinner_start ();
  GPid b = spinner_start ();
  guint tick_id;

  tick_id = ticker_start (&ticker);
  iterate_for (5);
  g_timeout_add (msec, set_true_cb, &done);
  iterate_until (&done);
  ticker_stop (&ticker, tick_id);
  spinner_stop (a);
  spinner_stop (b);
  return ticker.late_ms;
}

static void
bench_throughput (void)
{
  guint trials = opt_quick ? 1 : 5;
  guint total = N_THROUGHPUT;
  g_autoptr(GArray) project = new_values ();
  g_autoptr(GArray) chunked = new_values ();
  g_autoptr(GArray) gtask = new_values ();
  g_autoptr(GArray) submit_burst = new_values ();
  g_autoptr(GArray) block_chunked = new_values ();
  g_autoptr(GArray) late_burst = new_values ();
  g_autoptr(GArray) late_chunked = new_values ();
  g_autoptr(GArray) p99_chunked = new_values ();
  g_autoptr(GArray) max_chunked = new_values ();
  g_autoptr(GArray) p99_burst = new_values ();
  g_autoptr(GArray) max_burst = new_values ();
  g_autoptr(GArray) submit_cpu = new_values ();
  g_autoptr(GArray) caller_cpu = new_values ();
  g_autoptr(GArray) runq_chunked = new_values ();
  g_autoptr(GArray) p99_gtask = new_values ();
  g_autoptr(GArray) max_gtask = new_values ();
  g_autoptr(GArray) p99_floor = new_values ();
  g_autoptr(GArray) max_floor = new_values ();
  ACpuProcessTaskPool *pool = pool_new (2);
  double p, g, floor_p99;

  /* Both workers up, the window warmed. */
  pool_run_many (pool, "trivial", NULL, 2000);
  throughput_gtask_trial (2000);

  for (guint t = 0; t < trials; t++)
    {
      ThroughputResult r;

      add (gtask, throughput_gtask_trial (total));

      r = throughput_project_trial (pool, total, TRUE);
      add (project, r.rate);
      add (submit_burst, r.submit_ms);
      add (submit_cpu, r.submit_cpu_us);
      add (caller_cpu, r.caller_cpu_us);
      add (p99_burst, percentile (r.late_ms, 99));
      add (max_burst, percentile (r.late_ms, 100));
      g_array_append_vals (late_burst, r.late_ms->data, r.late_ms->len);
      g_array_unref (r.late_ms);

      r = throughput_project_trial (pool, total, FALSE);
      add (chunked, r.rate);
      add (block_chunked, r.max_block_ms);
      add (runq_chunked, r.runq_wait_pct);
      add (p99_chunked, percentile (r.late_ms, 99));
      add (max_chunked, percentile (r.late_ms, 100));
      g_array_append_vals (late_chunked, r.late_ms->data, r.late_ms->len);
      g_array_unref (r.late_ms);

      /* The floor, right after and as long as the chunked run took. */
      {
        double msec = 1000.0 * total / r.rate;
        GArray *late = lateness_floor_trial ((guint) CLAMP (isfinite (msec) ? msec : 0, 200, 60000));

        add (p99_floor, percentile (late, 99));
        add (max_floor, percentile (late, 100));
        g_array_unref (late);
      }

      /* The same ticker and chunks, submitting to GLib's thread pool. */
      r = throughput_project_trial (NULL, total, FALSE);
      add (p99_gtask, percentile (r.late_ms, 99));
      add (max_gtask, percentile (r.late_ms, 100));
      g_array_unref (r.late_ms);
    }
  pool_shutdown (pool);

  p = median (project);
  g = median (gtask);
  printf ("# throughput: %u trials of %u trivial tasks, 2 workers, interleaved with GTask\n",
          trials, total);
  print_trials ("throughput_per_s", project, 0);
  print_trials ("gtask_per_s", gtask, 0);
  print_trials ("throughput_chunked_per_s", chunked, 0);
  print_value ("throughput_per_s", p, 0);
  print_value ("gtask_per_s", g, 0);
  print_value ("throughput_ratio", ratio (p, g), 3);
  print_value ("throughput_chunked_per_s", median (chunked), 0);
  printf ("# lateness: 1 ms g_timeout on the caller's loop; primary = %u tasks submitted "
          "for %d us per idle iteration (G_PRIORITY_DEFAULT_IDLE); _burst = all from one callback\n",
          total, CHUNK_BUDGET_US);
  print_trials ("lateness_p99_ms", p99_chunked, 2);
  print_trials ("lateness_max_ms", max_chunked, 2);
  print_value ("lateness_p99_ms", median (p99_chunked), 2);
  print_value ("lateness_max_ms", median (max_chunked), 2);
  print_value ("lateness_ticks", late_chunked->len / (double) MAX (trials, 1), 0);
  printf ("# lateness floor: the same ticker, as long as each chunked run, with no pool and two "
          "plain CPU-bound processes running\n");
  print_trials ("lateness_floor_p99_ms", p99_floor, 2);
  floor_p99 = median (p99_floor);
  print_value ("lateness_floor_p99_ms", floor_p99, 2);
  print_value ("lateness_floor_max_ms", median (max_floor), 2);
  if (isfinite (floor_p99) && floor_p99 <= 0)
    printf ("# lateness_vs_floor: not a number: the floor's p99 is 0 ms\n");
  else
    /* A lateness of 0 is a figure, not a failure: no ratio() here. */
    print_value ("lateness_vs_floor", median (p99_chunked) / floor_p99, 2);
  print_value ("submit_chunk_block_ms", median (block_chunked), 2);
  print_value ("caller_runq_wait_pct", median (runq_chunked), 1);
  print_value ("gtask_lateness_p99_ms", median (p99_gtask), 2);
  print_value ("gtask_lateness_max_ms", median (max_gtask), 2);
  print_value ("lateness_burst_p99_ms", median (p99_burst), 2);
  print_value ("lateness_burst_max_ms", median (max_burst), 2);
  print_value ("submit_burst_ms", median (submit_burst), 1);
  print_value ("submit_burst_us_per_task", median (submit_burst) * 1000.0 / total, 3);
  print_value ("submit_cpu_us_per_task", median (submit_cpu), 3);
  print_value ("caller_cpu_us_per_task", median (caller_cpu), 3);
}

/* echo64 ------------------------------------------------------------------- */

/* One echo of @bytes (any size) there and back, in ms. */
static double
echo_sized_trial (ACpuProcessTaskPool *pool, GBytes *bytes)
{
  Counter c = { .pending = 1 };
  GVariant *args;
  gint64 start;
  gsize n;

  /* Built outside the clock: the caller has its data already. */
  args = g_variant_ref_sink (g_variant_new ("(@ay)",
                                            g_variant_new_from_bytes (G_VARIANT_TYPE_BYTESTRING, bytes, TRUE)));
  start = now_us ();
  acpu_process_task_pool_run_async (pool, "echo", args, NULL, counter_cb, &c);
  iterate_until (&c.done);
  if (c.errors > 0 || c.last_value == NULL)
    g_error ("echo failed");
  {
    g_autoptr(GVariant) ay = g_variant_get_child_value (c.last_value, 0);
    n = g_variant_get_size (ay);
  }
  if (n != g_bytes_get_size (bytes))
    g_error ("echo returned %" G_GSIZE_FORMAT " bytes", n);
  counter_clear (&c);
  g_variant_unref (args);
  return (double) (c.last_time - start) / 1000.0;
}

static double
echo_floor_trial (const char *data, char *back)
{
  guint64 len = ECHO_SIZE;
  gint64 start = now_us ();

  if (!write_all (echo_child.fd, &len, sizeof len) ||
      !write_all (echo_child.fd, data, len) ||
      !read_all (echo_child.fd, back, len))
    g_error ("echo child is gone");
  return (double) (now_us () - start) / 1000.0;
}

/* 64 MiB copied into memory just mapped (the kernel must supply new pages,
 * as it must for a memfd and for any buffer a result arrives in). */
static double
fresh_copy_trial (const char *data)
{
  gint64 start = now_us ();
  void *map = mmap (NULL, ECHO_SIZE, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  double ms;

  if (map == MAP_FAILED)
    g_error ("mmap: %s", g_strerror (errno));
  memcpy (map, data, ECHO_SIZE);
  ms = (double) (now_us () - start) / 1000.0;
  munmap (map, ECHO_SIZE);
  return ms;
}

static void
bench_echo (void)
{
  guint trials = opt_quick ? 3 : 9;
  g_autoptr(GArray) project = new_values ();
  g_autoptr(GArray) floor_ = new_values ();
  g_autoptr(GArray) memcpy_ = new_values ();
  g_autoptr(GArray) fresh = new_values ();
  char *data = g_malloc (ECHO_SIZE);
  char *back = g_malloc (ECHO_SIZE);
  g_autoptr(GBytes) bytes = NULL;
  ACpuProcessTaskPool *pool = pool_new (1);
  double p, f;

  for (gsize i = 0; i < ECHO_SIZE; i++)
    data[i] = (char) (i * 31);
  memset (back, 0, ECHO_SIZE);
  bytes = g_bytes_new_static (data, ECHO_SIZE);

  pool_run_many (pool, "trivial", NULL, 1);
  echo_sized_trial (pool, bytes);
  echo_floor_trial (data, back);

  for (guint t = 0; t < trials; t++)
    {
      gint64 start;

      add (floor_, echo_floor_trial (data, back));
      add (project, echo_sized_trial (pool, bytes));
      start = now_us ();
      memcpy (back, data, ECHO_SIZE);
      add (memcpy_, (double) (now_us () - start) / 1000.0);
      add (fresh, fresh_copy_trial (data));
    }
  if (memcmp (data, back, ECHO_SIZE) != 0)
    g_error ("echo floor corrupted the data");
  pool_shutdown (pool);

  p = median (project);
  f = median (floor_);
  printf ("# echo64: %u trials of 64 MiB there and back, interleaved\n", trials);
  print_trials ("echo64_ms", project, 2);
  print_trials ("echo64_floor_ms", floor_, 2);
  print_value ("echo64_ms", p, 2);
  print_value ("echo64_floor_ms", f, 2);
  print_value ("echo64_ratio", ratio (p, f), 2);
  print_value ("echo64_memcpy_ms", median (memcpy_), 2);
  /* What giving the caller new memory costs on this machine: the floor
   * reuses warm buffers, a result cannot. */
  print_value ("echo64_fresh_memcpy_ms", median (fresh), 2);
  g_bytes_unref (g_steal_pointer (&bytes));
  g_free (data);
  g_free (back);
}

/* cold --------------------------------------------------------------------- */

static double
cold_project_trial (void)
{
  Counter c = { .pending = 1 };
  gint64 start = now_us ();
  ACpuProcessTaskPool *pool = pool_new (1);
  double ms;

  acpu_process_task_pool_run_async (pool, "trivial", NULL, NULL, counter_cb, &c);
  iterate_until (&c.done);
  ms = (double) (c.last_time - start) / 1000.0;
  if (c.errors > 0)
    g_error ("cold start failed");
  counter_clear (&c);
  pool_shutdown (pool);
  return ms;
}

static double
cold_floor_trial (void)
{
  g_autofree char *hello = g_build_filename (bench_dir, "acpu-bench-hello", NULL);
  char *argv[] = { hello, NULL };
  gint64 start;
  int sv[2];
  pid_t pid;
  char byte;
  double ms;

  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
    g_error ("socketpair: %s", g_strerror (errno));
  start = now_us ();
  pid = fork ();
  if (pid == 0)
    {
      dup2 (sv[1], 0);
      dup2 (sv[1], 1);
      execv (hello, argv);
      _exit (127);
    }
  close (sv[1]);
  if (!read_all (sv[0], &byte, 1))
    g_error ("%s did not answer", hello);
  ms = (double) (now_us () - start) / 1000.0;
  close (sv[0]);
  waitpid (pid, NULL, 0);
  return ms;
}

static void
bench_cold (void)
{
  guint trials = opt_quick ? 4 : 12;
  g_autoptr(GArray) project = new_values ();
  g_autoptr(GArray) floor_ = new_values ();
  double p, f;

  cold_floor_trial ();
  cold_project_trial ();
  for (guint t = 0; t < trials; t++)
    {
      add (floor_, cold_floor_trial ());
      add (project, cold_project_trial ());
    }
  p = median (project);
  f = median (floor_);
  printf ("# cold: %u trials, interleaved\n", trials);
  print_trials ("cold_ms", project, 2);
  print_trials ("cold_floor_ms", floor_, 2);
  print_value ("cold_ms", p, 2);
  print_value ("cold_floor_ms", f, 2);
  print_value ("cold_ratio", ratio (p, f), 2);
}

/* scaling and overhead ----------------------------------------------------- */

static volatile guint64 cpu_sink;

/* How many rounds of acpu_bench_cpu () take @target_ms of CPU here, or 0
 * when no probe gave a usable time (then the caller reports the figures as
 * failed). Main thread. Doubles the rounds until one call takes over 20 ms,
 * then takes the median of three calls at that size; a probe that fails (a
 * time of zero, or no size under 2^40 rounds reaching 20 ms) is tried
 * again, three times in all. Timed in this thread's CPU time, not wall
 * time: on a shared machine a probe that waited for a CPU would make the
 * tasks too short once the machine is quieter. */
static guint64
calibrate_cpu (double target_ms)
{
  for (guint attempt = 0; attempt < 3; attempt++)
    {
      guint64 n;

      for (n = 1 << 20; n <= (guint64) 1 << 40; n *= 2)
        {
          gint64 start = thread_cpu_us ();
          double ms, t[3];

          cpu_sink ^= acpu_bench_cpu (n);
          ms = (double) (thread_cpu_us () - start) / 1000.0;
          if (ms <= 20)
            continue;
          /* Median of three at this size. */
          t[0] = ms;
          for (int i = 1; i < 3; i++)
            {
              start = thread_cpu_us ();
              cpu_sink ^= acpu_bench_cpu (n);
              t[i] = (double) (thread_cpu_us () - start) / 1000.0;
            }
          qsort (t, 3, sizeof (double), cmp_double);
          if (t[0] > 0 && isfinite (t[1]))
            {
              double rounds = n * (target_ms / t[1]);

              if (rounds >= 1 && rounds < (double) ((guint64) 1 << 50))
                return (guint64) rounds;
            }
          break;
        }
      printf ("# calibration: probe %u of 3 failed (n = %" G_GUINT64_FORMAT ")\n",
              attempt + 1, n);
    }
  return 0;
}

static double
cpu_pool_trial (ACpuProcessTaskPool *pool, guint64 n, guint k)
{
  Counter c = { .pending = k };
  gint64 start = now_us ();
  GVariant *args = g_variant_ref_sink (g_variant_new ("(t)", n));

  for (guint i = 0; i < k; i++)
    acpu_process_task_pool_run_async (pool, "cpu", args, NULL, counter_cb, &c);
  iterate_until (&c.done);
  g_variant_unref (args);
  if (c.errors > 0)
    g_error ("cpu tasks failed");
  counter_clear (&c);
  return (double) (c.last_time - start) / 1000.0;
}

static double
cpu_inproc_trial (guint64 n, guint k)
{
  gint64 start = now_us ();

  for (guint i = 0; i < k; i++)
    {
      /* The worker's loop, in steps, without the cancellable. */
      guint64 x = 0;

      for (guint64 left = n; left > 0;)
        {
          guint64 step = MIN (left, (guint64) 1 << 20);
          x ^= acpu_bench_cpu (step);
          left -= step;
        }
      cpu_sink ^= x;
    }
  return (double) (now_us () - start) / 1000.0;
}

typedef struct
{
  guint64 n;
  guint   k;
} CpuJob;

static gpointer
cpu_thread (gpointer data)
{
  CpuJob *job = data;

  cpu_inproc_trial (job->n, job->k);
  return NULL;
}

/* What the machine gives right now: @k calls split over two threads of this
 * process. On a shared machine the second core is not always there; the
 * pool cannot scale better than this. */
static double
cpu_threads_trial (guint64 n, guint k)
{
  CpuJob a = { n, k / 2 }, b = { n, k - k / 2 };
  gint64 start = now_us ();
  GThread *ta = g_thread_new ("bench-cpu-a", cpu_thread, &a);
  GThread *tb = g_thread_new ("bench-cpu-b", cpu_thread, &b);

  g_thread_join (ta);
  g_thread_join (tb);
  return (double) (now_us () - start) / 1000.0;
}

static void
bench_scaling (void)
{
  guint trials = opt_quick ? 3 : 7, k = 8;
  /* Aim above 100 ms: the machine may be faster now than later. */
  guint64 n = calibrate_cpu (opt_quick ? 130 : 160);
  g_autoptr(GArray) one = new_values ();
  g_autoptr(GArray) two = new_values ();
  g_autoptr(GArray) inproc = new_values ();
  g_autoptr(GArray) speedups = new_values ();
  g_autoptr(GArray) overheads = new_values ();
  g_autoptr(GArray) threads = new_values ();
  g_autoptr(GArray) machine = new_values ();
  g_autoptr(GArray) efficiency = new_values ();
  ACpuProcessTaskPool *pool1, *pool2;
  double a, b, c;

  if (n == 0)
    {
      printf ("# scaling: failed: the CPU task could not be calibrated; no figures\n");
      return;
    }
  pool1 = pool_new (1);
  pool2 = pool_new (2);

  pool_run_many (pool1, "trivial", NULL, 1);
  pool_run_many (pool2, "trivial", NULL, 2);
  cpu_pool_trial (pool2, n / 8, 4);

  for (guint t = 0; t < trials; t++)
    {
      /* Interleave task by task: one in-process call, then one task through
       * the 1-worker pool, k times; then k tasks through 2 workers. A busy
       * moment on the shared machine then hits both sides of a ratio. */
      a = b = 0;
      for (guint i = 0; i < k; i++)
        {
          a += cpu_inproc_trial (n, 1);
          b += cpu_pool_trial (pool1, n, 1);
        }
      c = cpu_pool_trial (pool2, n, k);
      {
        double d = cpu_threads_trial (n, k);

        add (threads, d);
        add (machine, ratio (a, d));
        add (efficiency, ratio (ratio (b, c), ratio (a, d)));
      }
      add (inproc, a);
      add (one, b);
      add (two, c);
      add (overheads, overhead_pct (b, a));
      add (speedups, ratio (b, c));
    }
  pool_shutdown (pool1);
  pool_shutdown (pool2);

  printf ("# scaling: %u trials of %u tasks of ~%.0f ms (n = %" G_GUINT64_FORMAT "): "
          "in-process and 1-worker pool alternating task by task, then %u at once on 2 workers; "
          "ratio per trial, median\n",
          trials, k, (double) median (inproc) / k, n, k);
  print_trials ("cpu_inproc_ms", inproc, 1);
  print_trials ("cpu_1worker_ms", one, 1);
  print_trials ("cpu_2workers_ms", two, 1);
  print_trials ("scaling_speedup", speedups, 3);
  print_trials ("overhead_pct", overheads, 2);
  print_trials ("cpu_2threads_ms", threads, 1);
  print_trials ("machine_speedup", machine, 3);
  print_value ("scaling_speedup", median (speedups), 3);
  print_value ("overhead_pct", median (overheads), 2);
  print_value ("scaling_speedup_of_medians", ratio (median (one), median (two)), 3);
  /* The same k calls on two threads of this process, right after: when the
   * machine itself gives less than 2, so can the pool. */
  print_value ("machine_speedup", median (machine), 3);
  print_value ("scaling_vs_machine", median (efficiency), 3);
  print_value ("overhead_pct_of_medians", overhead_pct (median (one), median (inproc)), 2);
}

/* memory ------------------------------------------------------------------- */

static gint64
smaps_field_kib (GPid pid, const char *field)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/smaps_rollup", (int) pid);
  g_autofree char *contents = NULL;
  g_auto(GStrv) lines = NULL;
  gsize flen = strlen (field);

  if (!g_file_get_contents (path, &contents, NULL, NULL))
    return -1;
  lines = g_strsplit (contents, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    if (strncmp (lines[i], field, flen) == 0 && lines[i][flen] == ':')
      return g_ascii_strtoll (lines[i] + flen + 1, NULL, 10);
  return -1;
}

static gint64
heap_bytes (void)
{
  struct mallinfo2 mi = mallinfo2 ();
  return (gint64) (mi.uordblks + mi.hblkhd);
}

static gint64
rss_bytes (void)
{
  g_autofree char *contents = NULL;
  long size = 0, resident = 0;

  if (g_file_get_contents ("/proc/self/statm", &contents, NULL, NULL))
    sscanf (contents, "%ld %ld", &size, &resident);
  return (gint64) resident * sysconf (_SC_PAGESIZE);
}

/* [main]: runs progress-cpu once; the loop's own CPU time in the worker, µs. */
static double
progress_cpu_us (ACpuProcessTaskPool *pool,
                 guint64              steps,
                 guint64              ops,
                 gboolean             report)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = NULL;
  guint64 x;
  gint64 us;

  value = acpu_process_task_pool_run (pool, "progress-cpu",
                                      g_variant_new ("(ttb)", steps, ops, report), NULL, &error);
  if (value == NULL)
    {
      g_printerr ("progress-cpu: %s\n", error->message);
      return NAN;
    }
  g_variant_get (value, "(tx)", &x, &us);
  return (double) us;
}

/* [main]: a task handle's partial values, counted as they are emitted. */
static void
bench_partial_cb (ACpuTask *task,
                  GVariant *value,
                  guint    *count)
{
  (*count)++;
}

/* The pool's two workers kept flat out, as a GTK application's are while
 * it renders: tasks of ~20 ms that report progress every ~10 µs, each one
 * handed to the next when it ends, their progress read by a handler (a
 * bound progress bar would do as much). */
typedef struct
{
  ACpuProcessTaskPool *pool;
  guint64              steps;
  guint64              ops;
  GPtrArray           *running;   /* ACpuTask, owned */
  gboolean             stop;
  guint                done;
  guint                failed;
  guint                notifies;
} Busy;

static void busy_start (Busy *b);

/* [main] */
static void
busy_progress_cb (ACpuTask   *task,
                  GParamSpec *pspec,
                  Busy       *b)
{
  (void) acpu_task_get_progress (task);
  b->notifies++;
}

/* [main]: a task ended; the next one takes its place. */
static void
busy_done_cb (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  Busy *b = user_data;
  ACpuTask *task = ACPU_TASK (object);
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = acpu_task_wait_finish (task, result, &error);

  if (value != NULL)
    b->done++;
  else
    {
      g_printerr ("progress-cpu: %s\n", error->message);
      b->failed++;
    }
  g_signal_handlers_disconnect_by_data (task, b);
  g_ptr_array_remove_fast (b->running, task);
  if (!b->stop)
    busy_start (b);
}

/* [main] */
static void
busy_start (Busy *b)
{
  ACpuTask *task = acpu_process_task_pool_start (b->pool, "progress-cpu",
                                                 g_variant_new ("(ttb)", b->steps, b->ops, TRUE),
                                                 G_PRIORITY_DEFAULT, NULL);

  g_ptr_array_add (b->running, task);
  g_signal_connect (task, "notify::progress", G_CALLBACK (busy_progress_cb), b);
  acpu_task_wait_async (task, NULL, busy_done_cb, b);
}

/* [main]: the ticker of lateness_floor_trial(), as long, while @pool keeps
 * its two workers busy; the ticks' lateness in ms. */
static GArray *
lateness_workers_trial (ACpuProcessTaskPool *pool,
                        guint64              ops,
                        guint                msec,
                        double              *notifies_per_s)
{
  Ticker ticker = { new_values (), 0 };
  Busy b = { pool, 2000, ops, g_ptr_array_new_with_free_func (g_object_unref), FALSE, 0, 0, 0 };
  gboolean done = FALSE;
  guint tick_id;

  busy_start (&b);
  busy_start (&b);
  tick_id = ticker_start (&ticker);
  iterate_for (5);
  g_timeout_add (msec, set_true_cb, &done);
  iterate_until (&done);
  ticker_stop (&ticker, tick_id);
  *notifies_per_s = b.notifies / (msec / 1000.0);

  /* The tasks left end on their own (progress-cpu does not look at its
   * cancellable, and a cancelled task's worker would compute on into the
   * floor's trial). */
  b.stop = TRUE;
  while (b.running->len > 0)
    g_main_context_iteration (main_ctx, TRUE);
  g_ptr_array_unref (b.running);
  if (b.failed > 0 || b.done == 0)
    {
      g_array_set_size (ticker.late_ms, 0);   /* no figure from a run that failed */
      *notifies_per_s = NAN;
    }
  return ticker.late_ms;
}

/* Issue 13: lateness_p99_ms is the ticker while the caller's own thread
 * submits and receives 100,000 tasks; this is the same ticker while the
 * pool only keeps two workers busy, against the floor (two plain
 * processes) measured alternately for as long: what the pool's machinery
 * costs a UI's thread beyond the machine's own CPU contention. */
static void
bench_lateness_workers (guint64 ops)
{
  ACpuProcessTaskPool *pool = pool_new (2);
  g_autoptr(GArray) p99 = new_values ();
  g_autoptr(GArray) max = new_values ();
  g_autoptr(GArray) p99_floor = new_values ();
  g_autoptr(GArray) notifies = new_values ();
  guint trials = opt_quick ? 3 : 7;
  guint msec = opt_quick ? 500 : 2000;
  double floor_p99;

  pool_run_many (pool, "trivial", NULL, 2);
  for (guint t = 0; t < trials; t++)
    for (guint k = 0; k < 2; k++)
      {
        /* Alternate which goes first. */
        if ((k == 0) == (t % 2 == 0))
          {
            double rate;
            GArray *late = lateness_workers_trial (pool, ops, msec, &rate);

            add (p99, percentile (late, 99));
            add (max, percentile (late, 100));
            add (notifies, rate);
            g_array_unref (late);
          }
        else
          {
            GArray *late = lateness_floor_trial (msec);

            add (p99_floor, percentile (late, 99));
            g_array_unref (late);
          }
      }
  pool_shutdown (pool);

  printf ("# lateness, workers busy: the 1 ms ticker while the pool keeps its 2 workers flat out "
          "with tasks reporting progress every ~10 us, %u trials of %u ms, alternating with the "
          "floor (two plain CPU-bound processes)\n", trials, msec);
  print_trials ("lateness_workers_p99_ms", p99, 2);
  print_trials ("lateness_workers_floor_p99_ms", p99_floor, 2);
  print_value ("lateness_workers_p99_ms", median (p99), 2);
  print_value ("lateness_workers_max_ms", median (max), 2);
  floor_p99 = median (p99_floor);
  print_value ("lateness_workers_floor_p99_ms", floor_p99, 2);
  if (isfinite (floor_p99) && floor_p99 <= 0)
    printf ("# lateness_workers_vs_floor: not a number: the floor's p99 is 0 ms\n");
  else
    print_value ("lateness_workers_vs_floor", median (p99) / floor_p99, 2);
  print_value ("progress_notifies_per_s", median (notifies), 0);
}

/* Issue 13: what reporting progress costs a task (one report every ~10 µs
 * of work, against the same work silent, in the worker thread's CPU time,
 * which the load of other processes does not stretch), and how
 * many small partial values one task streams to a caller per second. */
static void
bench_progress (void)
{
  ACpuProcessTaskPool *pool = pool_new (1);
  g_autoptr(GArray) overhead = new_values ();
  g_autoptr(GArray) rates = new_values ();
  guint trials = opt_quick ? 3 : 7;
  guint64 ops, steps;
  double calib;

  /* ~10 µs of work a step: calibrated on a silent run. */
  calib = progress_cpu_us (pool, 2000, 10000, FALSE);
  if (!(calib > 0))
    {
      print_value ("progress_overhead_pct", NAN, 2);
      pool_shutdown (pool);
      return;
    }
  ops = MAX (1, (guint64) (10000.0 * 10.0 * 2000 / calib));
  steps = opt_quick ? 20000 : 100000;   /* 0.2 s or 1 s a run */

  for (guint t = 0; t < trials; t++)
    {
      /* Alternate which goes first, so drift in the machine's speed
       * favours neither. */
      double silent, report;

      if (t % 2 == 0)
        {
          silent = progress_cpu_us (pool, steps, ops, FALSE);
          report = progress_cpu_us (pool, steps, ops, TRUE);
        }
      else
        {
          report = progress_cpu_us (pool, steps, ops, TRUE);
          silent = progress_cpu_us (pool, steps, ops, FALSE);
        }
      add (overhead, overhead_pct (report, silent));
    }
  print_trials ("progress_overhead_pct", overhead, 2);
  print_value ("progress_overhead_pct", median (overhead), 2);

  for (guint t = 0; t < trials; t++)
    {
      g_autoptr(ACpuTask) task = NULL;
      guint n = opt_quick ? 20000 : 100000, count = 0;
      gint64 start = now_us ();

      task = acpu_process_task_pool_start (pool, "partials", g_variant_new ("(uu)", n, 16),
                                           G_PRIORITY_DEFAULT, NULL);
      g_signal_connect (task, "partial-value", G_CALLBACK (bench_partial_cb), &count);
      while (!acpu_task_is_finished (task))
        g_main_context_iteration (main_ctx, TRUE);
      add (rates, acpu_task_get_state (task) == ACPU_TASK_STATE_SUCCEEDED && count == n
                    ? n / ((double) (now_us () - start) / G_USEC_PER_SEC) : NAN);
    }
  print_trials ("partial_values_per_s", rates, 0);
  print_value ("partial_values_per_s", median (rates), 0);

  pool_shutdown (pool);
  bench_lateness_workers (ops);
}

static void
bench_memory (void)
{
  ACpuProcessTaskPool *pool = pool_new (1);
  Counter c = { .pending = 1 };
  Counter queued = { .pending = N_THROUGHPUT };
  g_autoptr(GCancellable) block_cancel = g_cancellable_new ();
  GPid pid;
  gint64 heap0, rss0, heap1, rss1;

  /* Idle PSS: ask a worker its pid, let it go idle, read smaps_rollup. */
  acpu_process_task_pool_run_async (pool, "trivial", NULL, NULL, counter_cb, &c);
  iterate_until (&c.done);
  g_variant_get (c.last_value, "(i)", &pid);
  counter_clear (&c);
  iterate_for (300);
  print_value ("worker_idle_pss_kib", smaps_field_kib (pid, "Pss"), 0);
  print_value ("worker_idle_rss_kib", smaps_field_kib (pid, "Rss"), 0);
  print_value ("worker_idle_private_kib",
               smaps_field_kib (pid, "Private_Clean") + smaps_field_kib (pid, "Private_Dirty"), 0);

  /* Queued: block the only worker with a long cpu task, then queue 100k. */
  c = (Counter) { .pending = 1 };
  acpu_process_task_pool_run_async (pool, "cpu", g_variant_new ("(t)", G_MAXUINT64), block_cancel,
                                    counter_cb, &c);
  iterate_for (100);
  malloc_trim (0);
  heap0 = heap_bytes ();
  rss0 = rss_bytes ();
  for (guint i = 0; i < N_THROUGHPUT; i++)
    acpu_process_task_pool_run_async (pool, "trivial", NULL, NULL, counter_cb, &queued);
  /* Let the I/O thread take them into its queue. */
  iterate_for (300);
  heap1 = heap_bytes ();
  rss1 = rss_bytes ();
  printf ("# queued: %u tasks behind a blocked worker; heap = mallinfo2 in-use bytes, all arenas\n",
          N_THROUGHPUT);
  print_value ("queued_task_bytes", (double) (heap1 - heap0) / N_THROUGHPUT, 0);
  print_value ("queued_task_rss_bytes", (double) (rss1 - rss0) / N_THROUGHPUT, 0);
  print_value ("queued_n", acpu_process_task_pool_get_n_queued (pool), 0);

  g_cancellable_cancel (block_cancel);
  iterate_until (&c.done);
  counter_clear (&c);
  iterate_until (&queued.done);
  counter_clear (&queued);
  pool_shutdown (pool);
}

/* peers -------------------------------------------------------------------- */

/* Runs a peer program and prints its lines; a line whose name does not start
 * with @keep_prefix gets @rename_prefix in front (so another program's
 * rtt_ratio cannot be taken for ours). */
static void
run_peer (const char * const *argv, char **envp, const char *what,
          const char *keep_prefix, const char *rename_prefix)
{
  g_autoptr(GError) error = NULL;
  g_autofree char *out = NULL;
  g_auto(GStrv) lines = NULL;
  int status = 0;

  fflush (stdout);
  if (!g_spawn_sync (NULL, (char **) argv, envp, G_SPAWN_SEARCH_PATH | G_SPAWN_CHILD_INHERITS_STDIN,
                     NULL, NULL, &out, NULL, &status, &error))
    {
      printf ("# %s: not run: %s\n", what, error->message);
      return;
    }
  lines = g_strsplit (out, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      if (lines[i][0] == '\0')
        continue;
      if (lines[i][0] == '#' || keep_prefix == NULL || g_str_has_prefix (lines[i], keep_prefix) ||
          strchr (lines[i], ':') == NULL)
        printf ("%s\n", lines[i]);
      else
        printf ("%s%s\n", rename_prefix, lines[i]);
    }
  if (!g_spawn_check_wait_status (status, &error))
    printf ("# %s: %s\n", what, error->message);
  fflush (stdout);
}

static void
bench_peers (void)
{
  g_autofree char *ppe = g_build_filename (ACPU_BENCH_SRCDIR, "peers", "ppe_bench.py", NULL);
  g_autofree char *pis = g_build_filename (ACPU_BENCH_SRCDIR, "peers", "run-piscina.sh", NULL);
  g_autofree char *pyb = g_build_filename (ACPU_BENCH_SRCDIR, "python", "bench.py", NULL);
  const char *quick = opt_quick ? "--quick" : NULL;

  {
    const char *argv[] = { "/usr/bin/python3", ppe, quick, NULL };
    run_peer (argv, NULL, "ProcessPoolExecutor", NULL, NULL);
  }
  if (g_find_program_in_path ("node") != NULL)
    {
      const char *argv[] = { "/bin/sh", pis, quick, NULL };
      run_peer (argv, NULL, "piscina", NULL, NULL);
    }
  else
    printf ("# piscina: node not found, not run\n");
  if (g_file_test (pyb, G_FILE_TEST_EXISTS))
    {
      /* The drop-in's own bench, with the build tree's typelib and library
       * and the in-tree overrides, as tests/python does. */
      g_autofree char *libdir = g_build_filename (ACPU_BENCH_BUILDROOT, "asynccpu-glib", NULL);
      g_autofree char *bindings = g_build_filename (ACPU_BENCH_SRCDIR, "..", "bindings", NULL);
      g_autofree char *overrides = g_build_filename (bindings, "pygobject", NULL);
      g_autofree char *pythonpath = g_strdup_printf ("%s:%s", overrides, bindings);
      g_auto(GStrv) envp = g_get_environ ();
      const char *argv[] = { "/usr/bin/python3", pyb, quick, NULL };

      envp = g_environ_setenv (envp, "GI_TYPELIB_PATH", libdir, TRUE);
      envp = g_environ_setenv (envp, "LD_LIBRARY_PATH", libdir, TRUE);
      envp = g_environ_setenv (envp, "PYTHONPATH", pythonpath, TRUE);
      envp = g_environ_setenv (envp, "PYTHONDONTWRITEBYTECODE", "1", TRUE);
      printf ("# bench/python/bench.py (the drop-in's figures; names other than py_* prefixed pybench_)\n");
      run_peer (argv, envp, "bench/python/bench.py", "py_", "pybench_");
    }
}

/* launchers ----------------------------------------------------------------- */

/* The same pool figures through each launcher (issue 14), beside the direct
 * ones in the same run: rtt of a sync `trivial`, throughput of 2 workers,
 * and a 16 MiB echo (memfds through bwrap, inline through ssh and srun).
 * ssh and srun take their prefixes from ACPU_TEST_SSH and ACPU_TEST_SRUN (and
 * SLURM_CONF), as tests/engines/sshd.sh and slurm.sh print them with `env`;
 * a launcher with no engine here is a `# … skipped` comment. */
static ACpuLauncher *
bench_launcher (const char *kind, char **why)
{
  g_auto(GStrv) argv = NULL;
  const char *prefix;

  if (g_str_equal (kind, "direct"))
    return NULL;
  if (g_str_equal (kind, "bwrap"))
    {
      g_autofree char *bwrap = g_find_program_in_path ("bwrap");

      if (bwrap == NULL)
        *why = g_strdup ("bwrap is not installed");
      return bwrap != NULL ? acpu_launcher_new_bwrap_sandbox () : NULL;
    }
  prefix = g_getenv (g_str_equal (kind, "ssh") ? "ACPU_TEST_SSH" : "ACPU_TEST_SRUN");
  if (prefix == NULL || !g_shell_parse_argv (prefix, NULL, &argv, NULL) || g_strv_length (argv) < 2)
    {
      *why = g_strdup_printf ("no engine: eval \"$(bash tests/engines/%s start; bash tests/engines/%s env)\"",
                              g_str_equal (kind, "ssh") ? "sshd.sh" : "slurm.sh",
                              g_str_equal (kind, "ssh") ? "sshd.sh" : "slurm.sh");
      return NULL;
    }
  if (g_str_equal (kind, "ssh"))
    {
      guint n = g_strv_length (argv);
      char *destination = argv[n - 1];
      ACpuLauncher *launcher;

      argv[n - 1] = NULL;
      launcher = acpu_launcher_new_ssh (destination, (const char * const *) argv + 1);
      g_free (destination);
      return launcher;
    }
  return acpu_launcher_new_srun ((const char * const *) argv + 1);
}

static void
bench_launchers (void)
{
  static const char * const kinds[] = { "direct", "bwrap", "ssh", "srun", NULL };
  guint trials = opt_quick ? 3 : 7, n_rtt = opt_quick ? 100 : 500, n_tp = opt_quick ? 2000 : 10000;
  gsize size = 16 << 20;
  char *data = g_malloc (size);
  g_autoptr(GBytes) bytes = NULL;

  for (gsize i = 0; i < size; i++)
    data[i] = (char) (i * 31);
  bytes = g_bytes_new_take (data, size);

  printf ("# launchers: direct vs the bwrap sandbox, ssh to the engine's sshd, srun; "
          "rtt of %u sync trivial, %u trivial on 2 workers, a 16 MiB echo; %u trials\n",
          n_rtt, n_tp, trials);
  for (guint k = 0; kinds[k] != NULL; k++)
    {
      g_autofree char *why = NULL;
      g_autoptr(ACpuLauncher) launcher = bench_launcher (kinds[k], &why);
      g_autoptr(GArray) rtt = new_values ();
      g_autoptr(GArray) tp = new_values ();
      g_autoptr(GArray) echo = new_values ();
      g_autofree char *name = NULL;
      ACpuProcessTaskPool *pool;

      if (why != NULL)
        {
          printf ("# launcher_%s: skipped (%s)\n", kinds[k], why);
          continue;
        }
      pool = pool_new (2);
      if (launcher != NULL)
        {
          acpu_process_task_pool_add_worker_source (pool, NULL, 0);
          acpu_process_task_pool_add_worker_source (pool, launcher, 2);
        }
      pool_run_many (pool, "trivial", NULL, 4);
      for (guint t = 0; t < trials; t++)
        {
          gint64 start;

          add (rtt, rtt_sync_trial (pool, n_rtt));
          start = now_us ();
          pool_run_many (pool, "trivial", NULL, n_tp);
          add (tp, n_tp / ((double) (now_us () - start) / G_USEC_PER_SEC));
          add (echo, echo_sized_trial (pool, bytes));
        }
      pool_shutdown (pool);

      name = g_strdup_printf ("launcher_%s_rtt_us", kinds[k]);
      print_value (name, median (rtt), 1);
      g_free (name);
      name = g_strdup_printf ("launcher_%s_throughput_per_s", kinds[k]);
      print_value (name, median (tp), 0);
      g_free (name);
      name = g_strdup_printf ("launcher_%s_echo16_ms", kinds[k]);
      print_value (name, median (echo), 2);
    }
}

/* main --------------------------------------------------------------------- */

int
main (int argc, char **argv)
{
  g_autoptr(GOptionContext) context = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree char *exe = NULL;
  GOptionEntry entries[] = {
    { "quick", 'q', 0, G_OPTION_ARG_NONE, &opt_quick, "Fewer trials: under 60 s in all", NULL },
    { "no-peers", 0, 0, G_OPTION_ARG_NONE, &opt_no_peers, "Do not run the peers in full mode", NULL },
    { "only", 0, 0, G_OPTION_ARG_STRING, &opt_only,
      "Comma-separated: rtt,throughput,echo,cold,scaling,memory,progress,launchers,peers",
      "LIST" },
    G_OPTION_ENTRY_NULL
  };
  gint64 start = now_us ();

  context = g_option_context_new ("— asynccpu-glib benchmark");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("%s\n", error->message);
      return 2;
    }

  exe = g_file_read_link ("/proc/self/exe", NULL);
  bench_dir = g_path_get_dirname (exe != NULL ? exe : argv[0]);
  worker_argv[0] = g_build_filename (bench_dir, "acpu-bench-worker", NULL);
  worker_argv[1] = NULL;
  if (!g_file_test (worker_argv[0], G_FILE_TEST_IS_EXECUTABLE))
    g_error ("no worker at %s", worker_argv[0]);

  signal (SIGPIPE, SIG_IGN);

  /* The floor children first, while this process has one thread. */
  fork_child (&ping_child, ping_child_main);
  fork_child (&echo_child, echo_child_main);

  main_ctx = g_main_context_default ();

  printf ("# acpu-bench %s mode, %d processors\n", opt_quick ? "quick" : "full",
          g_get_num_processors ());
  print_load ("at start");

  if (want ("rtt"))
    bench_rtt ();
  if (want ("throughput"))
    bench_throughput ();
  if (want ("echo"))
    bench_echo ();
  if (want ("cold"))
    bench_cold ();
  if (want ("scaling"))
    bench_scaling ();
  if (want ("memory"))
    bench_memory ();
  if (want ("progress"))
    bench_progress ();
  if (want ("launchers"))
    bench_launchers ();

  end_child (&ping_child);
  end_child (&echo_child);

  if (!opt_quick && !opt_no_peers && want ("peers"))
    bench_peers ();

  print_load ("at end");
  printf ("# elapsed: %.1f s\n", (double) (now_us () - start) / G_USEC_PER_SEC);

  g_free (worker_argv[0]);
  g_free (bench_dir);
  g_free (opt_only);
  return 0;
}
