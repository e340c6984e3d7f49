/* test-launchers.c — workers through launchers, on real engines (issue 14):
 * bubblewrap, a second sshd on 127.0.0.1 and a single-node Slurm, started
 * by tests/engines/ when they do not run yet. Nothing is mocked.
 *
 * Each engine's cases are under /launchers/<engine>/; meson runs each
 * engine as a test of its own (suite 'engines'). An engine that is not
 * installed, or cannot work here (bwrap without namespaces, Slurm without
 * root), is a skip with the reason; one that is installed and does not
 * start is a failure.
 *
 * Bounds on waits are generous and only there so that a broken build fails
 * instead of hanging; how long things took is printed (g_test_message()),
 * never asserted.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include "config.h"

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib/gstdio.h>

#include "acpu-test-util.h"

/* How long a worker may take to go away before the test fails: generous. */
#define GONE_BOUND_S 20

typedef struct
{
  const char *name;
  const char *script;
  const char *programs;
  gboolean    tried;
  char       *skip;     /* why it cannot run here, or NULL */
  char       *failure;  /* why it did not start, or NULL */
} Engine;

static Engine engines[] = {
  { "bwrap", "bwrap.sh", "bwrap", FALSE, NULL, NULL },
  { "sandbox", "bwrap.sh", "bwrap", FALSE, NULL, NULL },
  { "ssh", "sshd.sh", "/usr/sbin/sshd ssh", FALSE, NULL, NULL },
  { "srun", "slurm.sh", "/usr/sbin/slurmctld /usr/sbin/slurmd srun /usr/sbin/munged", FALSE, NULL, NULL },
};

static Engine *
engine_find (const char *name)
{
  for (guint i = 0; i < G_N_ELEMENTS (engines); i++)
    if (g_str_equal (engines[i].name, name))
      return &engines[i];
  g_assert_not_reached ();
}

/* Runs `bash tests/engines/SCRIPT ACTION`; its stdout in *@out. */
static gboolean
engine_script (Engine      *engine,
               const char  *action,
               char       **out,
               char       **err)
{
  g_autofree char *script = g_test_build_filename (G_TEST_DIST, "engines", engine->script, NULL);
  const char *argv[] = { "bash", script, action, NULL };
  int status = 0;

  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, out, err,
                     &status, NULL))
    return FALSE;
  return g_spawn_check_wait_status (status, NULL);
}

/* Starts @engine once and exports what its `env` prints. FALSE when the
 * test must end: skipped or failed, as said. */
static gboolean
engine_ready (const char *name)
{
  Engine *engine = engine_find (name);

  if (!engine->tried)
    {
      g_auto(GStrv) programs = g_strsplit (engine->programs, " ", -1);
      g_autofree char *out = NULL;
      g_autofree char *err = NULL;

      engine->tried = TRUE;
      for (guint i = 0; programs[i] != NULL && engine->skip == NULL; i++)
        {
          g_autofree char *path = g_find_program_in_path (programs[i]);

          if (path == NULL)
            engine->skip = g_strdup_printf ("%s: %s is not installed (tools/install-deps.sh all)",
                                            name, programs[i]);
        }
      if (engine->skip == NULL && g_str_equal (name, "srun") && getuid () != 0)
        engine->skip = g_strdup ("srun: a private Slurm needs root");

      if (engine->skip == NULL && !engine_script (engine, "start", NULL, &err))
        {
          /* bwrap that cannot make namespaces here is the machine's limit. */
          if (g_str_equal (engine->script, "bwrap.sh"))
            engine->skip = g_strdup_printf ("%s: %s", name, err);
          else
            engine->failure = g_strdup_printf ("%s did not start: %s", name, err);
        }

      if (engine->skip == NULL && engine->failure == NULL &&
          !g_str_equal (engine->script, "bwrap.sh"))
        {
          g_auto(GStrv) lines = NULL;

          g_clear_pointer (&err, g_free);
          if (!engine_script (engine, "env", &out, &err))
            engine->failure = g_strdup_printf ("%s: no environment: %s", name, err);
          else
            lines = g_strsplit (out, "\n", -1);
          for (guint i = 0; lines != NULL && lines[i] != NULL; i++)
            {
              char *eq = strchr (lines[i], '=');
              g_autofree char *value = NULL;

              if (eq == NULL)
                continue;
              *eq = '\0';
              value = g_shell_unquote (eq + 1, NULL);
              g_setenv (lines[i], value, TRUE);
            }
        }
      else if (engine->skip == NULL && engine->failure == NULL)
        {
          g_clear_pointer (&out, g_free);
          if (engine_script (engine, "env", &out, NULL))
            {
              char *eq = strchr (out, '=');
              g_autofree char *value = eq != NULL ? g_shell_unquote (g_strstrip (eq + 1), NULL) : NULL;

              if (value != NULL)
                g_setenv ("ACPU_TEST_BWRAP", value, TRUE);
            }
        }
    }

  if (engine->skip != NULL)
    {
      g_test_skip (engine->skip);
      return FALSE;
    }
  if (engine->failure != NULL)
    {
      g_test_fail_printf ("%s", engine->failure);
      return FALSE;
    }
  return TRUE;
}

/* The launcher of @name, from what its engine script said. */
static ACpuLauncher *
engine_launcher (const char *name)
{
  if (g_str_equal (name, "ssh"))
    {
      g_auto(GStrv) argv = NULL;
      g_autoptr(GStrvBuilder) options = g_strv_builder_new ();
      g_auto(GStrv) options_v = NULL;
      guint n;

      g_assert_true (g_shell_parse_argv (g_getenv ("ACPU_TEST_SSH"), NULL, &argv, NULL));
      n = g_strv_length (argv);
      g_assert_cmpuint (n, >=, 2);
      for (guint i = 1; i < n - 1; i++)
        g_strv_builder_add (options, argv[i]);
      options_v = g_strv_builder_end (options);
      return acpu_launcher_new_ssh (argv[n - 1], (const char * const *) options_v);
    }
  if (g_str_equal (name, "srun"))
    return acpu_launcher_new_srun (NULL);
  if (g_str_equal (name, "bwrap"))
    {
      g_auto(GStrv) argv = NULL;

      g_assert_true (g_shell_parse_argv (g_getenv ("ACPU_TEST_BWRAP"), NULL, &argv, NULL));
      return acpu_launcher_new ((const char * const *) argv);
    }
  if (g_str_equal (name, "sandbox"))
    return acpu_launcher_new_bwrap_sandbox ();
  g_assert_not_reached ();
}

/* A pool whose @capacity workers all start through @launcher. */
static ACpuProcessTaskPool *
launcher_pool_new (ACpuLauncher *launcher,
                   guint         capacity)
{
  ACpuProcessTaskPool *pool = acpu_test_pool_new (1);

  acpu_process_task_pool_add_worker_source (pool, NULL, 0);
  acpu_process_task_pool_add_worker_source (pool, launcher, capacity);
  return pool;
}

static gint32
run_pid (ACpuProcessTaskPool *pool)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = acpu_process_task_pool_run (pool, "pid", NULL, NULL, &error);
  gint32 pid = 0;

  g_assert_no_error (error);
  g_variant_get (value, "(i)", &pid);
  g_assert_cmpint (pid, >, 0);
  return pid;
}

/* Waits for @pid to be gone; says how long it took. */
static void
assert_gone (GPid        pid,
             const char *what)
{
  gint64 start = g_get_monotonic_time ();

  ACPU_TEST_WAIT_FOR (!acpu_test_pid_alive (pid), GONE_BOUND_S);
  g_test_message ("%s: worker %d gone after %.0f ms", what, (int) pid,
                  (g_get_monotonic_time () - start) / 1000.0);
}

/* Results ------------------------------------------------------------------ */

static void
test_results (gconstpointer data)
{
  const char *name = data;
  g_autoptr(ACpuLauncher) launcher = NULL;
  g_autoptr(ACpuProcessTaskPool) pool = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = NULL;

  if (!engine_ready (name))
    return;

  launcher = engine_launcher (name);
  pool = launcher_pool_new (launcher, 2);
  value = acpu_process_task_pool_run (pool, "echo", g_variant_new ("(si)", "through", 14), NULL, &error);
  g_assert_no_error (error);
  acpu_test_assert_prints (value, "('through', 14)");
  g_clear_pointer (&value, g_variant_unref);

  /* A task error keeps its domain, code and message across the launcher. */
  value = acpu_process_task_pool_run (pool, "error",
                                      g_variant_new ("(sis)", "g-io-error-quark", G_IO_ERROR_NOT_FOUND,
                                                     "nothing there"),
                                      NULL, &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_assert_null (value);

  g_assert_cmpint (run_pid (pool), !=, getpid ());
  acpu_test_shutdown (pool);
}

/* A 16 MiB value, every byte value, there and back: in sealed memfds where
 * the channel is the socketpair (bwrap), inline where it is not. */
static void
test_big (gconstpointer data)
{
  const char *name = data;
  g_autoptr(ACpuLauncher) launcher = NULL;
  g_autoptr(ACpuProcessTaskPool) pool = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = NULL;
  g_autoptr(GVariant) inner = NULL;
  g_autofree guint8 *bytes = NULL;
  const guint8 *back;
  gsize size = 16 << 20, n = 0;

  if (!engine_ready (name))
    return;

  bytes = g_malloc (size);
  for (gsize i = 0; i < size; i++)
    bytes[i] = (guint8) (i * 7 + i / 256);

  launcher = engine_launcher (name);
  pool = launcher_pool_new (launcher, 1);
  value = acpu_process_task_pool_run (pool, "echo",
                                      g_variant_new ("(@ay)",
                                                     g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE,
                                                                                bytes, size, 1)),
                                      NULL, &error);
  g_assert_no_error (error);
  inner = g_variant_get_child_value (value, 0);
  back = g_variant_get_fixed_array (inner, &n, 1);
  g_assert_cmpuint (n, ==, size);
  g_assert_true (memcmp (back, bytes, size) == 0);
  acpu_test_shutdown (pool);
}

/* A worker that crashes behind a launcher is ACPU_ERROR_WORKER_DIED, and
 * the next task gets a new worker. */
static void
test_crash (gconstpointer data)
{
  const char *name = data;
  g_autoptr(ACpuLauncher) launcher = NULL;
  g_autoptr(ACpuProcessTaskPool) pool = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = NULL;

  if (!engine_ready (name))
    return;

  launcher = engine_launcher (name);
  pool = launcher_pool_new (launcher, 1);
  value = acpu_process_task_pool_run (pool, "crash", g_variant_new ("(s)", "segv"), NULL, &error);
  g_assert_error (error, ACPU_ERROR, ACPU_ERROR_WORKER_DIED);
  g_assert_null (value);
  run_pid (pool);
  acpu_test_shutdown (pool);
}

/* Cancel and task-timeout kill a task that never looks at its
 * cancellable, wherever it runs. */
static gboolean
cancel_later_cb (gpointer user_data)
{
  g_cancellable_cancel (user_data);
  return G_SOURCE_REMOVE;
}

static void
test_cancel (gconstpointer data)
{
  const char *name = data;
  g_autoptr(ACpuLauncher) launcher = NULL;
  g_autoptr(ACpuProcessTaskPool) pool = NULL;
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  AcpuTestResult r = { 0 };
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = NULL;
  GPid pid;

  if (!engine_ready (name))
    return;

  launcher = engine_launcher (name);
  pool = launcher_pool_new (launcher, 1);
  acpu_process_task_pool_set_cancel_grace_period (pool, 200);

  /* Cancel: the one worker runs the spin, is killed after the grace. */
  pid = run_pid (pool);
  acpu_process_task_pool_run_async (pool, "spin", g_variant_new ("(s)", ""), cancellable,
                                    acpu_test_result_cb, &r);
  g_timeout_add (300, cancel_later_cb, cancellable);
  acpu_test_result_wait (&r);
  g_assert_error (r.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  acpu_test_result_clear (&r);
  assert_gone (pid, "cancel");

  /* Task timeout. */
  pid = run_pid (pool);
  acpu_process_task_pool_set_task_timeout (pool, 300);
  value = acpu_process_task_pool_run (pool, "spin", g_variant_new ("(s)", ""), NULL, &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
  g_assert_null (value);
  assert_gone (pid, "task-timeout");

  acpu_process_task_pool_set_task_timeout (pool, 0);
  run_pid (pool);
  acpu_test_shutdown (pool);
}

/* The kill matrix ---------------------------------------------------------- */

/* The pid of this process's child running @comm, or 0. */
static GPid
find_child (const char *comm)
{
  g_autoptr(GDir) dir = g_dir_open ("/proc", 0, NULL);
  const char *entry;

  while ((entry = g_dir_read_name (dir)) != NULL)
    {
      g_autofree char *stat_path = NULL;
      g_autofree char *stat = NULL;
      const char *open_paren, *close_paren;
      int ppid = 0;

      if (!g_ascii_isdigit (entry[0]))
        continue;
      stat_path = g_strdup_printf ("/proc/%s/stat", entry);
      if (!g_file_get_contents (stat_path, &stat, NULL, NULL))
        continue;
      open_paren = strchr (stat, '(');
      close_paren = strrchr (stat, ')');
      if (open_paren == NULL || close_paren == NULL ||
          sscanf (close_paren + 2, "%*c %d", &ppid) != 1 || ppid != getpid ())
        continue;
      if ((gsize) (close_paren - open_paren - 1) == strlen (comm) &&
          strncmp (open_paren + 1, comm, strlen (comm)) == 0)
        return g_ascii_strtoll (entry, NULL, 10);
    }
  return 0;
}

/* The parent of @pid, or 0. */
static GPid
parent_of (GPid pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/stat", (int) pid);
  g_autofree char *stat = NULL;
  const char *p;
  int ppid = 0;

  if (!g_file_get_contents (path, &stat, NULL, NULL) || (p = strrchr (stat, ')')) == NULL ||
      sscanf (p + 2, "%*c %d", &ppid) != 1)
    return 0;
  return ppid;
}

/* The Slurm job @pid runs in (SLURM_JOB_ID in its environment), or NULL. */
static char *
slurm_job_of (GPid pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%d/environ", (int) pid);
  g_autofree char *environ_ = NULL;
  gsize len = 0;

  if (!g_file_get_contents (path, &environ_, &len, NULL))
    return NULL;
  for (const char *p = environ_; p < environ_ + len; p += strlen (p) + 1)
    if (g_str_has_prefix (p, "SLURM_JOB_ID="))
      return g_strdup (p + strlen ("SLURM_JOB_ID="));
  return NULL;
}

/* Whether Slurm still has job @job (squeue lists it). */
static gboolean
slurm_job_runs (const char *job)
{
  const char *argv[] = { "squeue", "-h", "-j", job, "-o", "%i", NULL };
  g_autofree char *out = NULL;

  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL,
                     NULL, NULL, &out, NULL, NULL, NULL))
    return FALSE;
  return strstr (out, job) != NULL;
}

/* The pool's process SIGKILLed: a child of ours runs the pool (main(),
 * --pool-child) and says its worker's pid. */
static void
test_kill_pool (gconstpointer data)
{
  const char *name = data;
  g_autofree char *self = g_file_read_link ("/proc/self/exe", NULL);
  const char *argv[] = { self, "--pool-child", name, NULL };
  g_autoptr(GError) error = NULL;
  GPid child;
  int out_fd;
  char buf[64] = { 0 };
  gssize n, got = 0;
  int status;
  GPid pid;
  g_autofree char *job = NULL;

  if (!engine_ready (name))
    return;

  g_assert_true (g_spawn_async_with_pipes (NULL, (char **) argv, NULL, G_SPAWN_DO_NOT_REAP_CHILD,
                                           NULL, NULL, &child, NULL, &out_fd, NULL, &error));
  g_assert_no_error (error);
  while (got < (gssize) sizeof buf - 1 && strchr (buf, '\n') == NULL &&
         (n = read (out_fd, buf + got, sizeof buf - 1 - got)) > 0)
    got += n;
  close (out_fd);
  pid = g_ascii_strtoll (buf, NULL, 10);
  g_assert_cmpint (pid, >, 0);
  g_assert_true (acpu_test_pid_alive (pid));
  job = g_str_equal (name, "srun") ? slurm_job_of (pid) : NULL;

  kill (child, SIGKILL);
  g_assert_cmpint (waitpid (child, &status, 0), ==, child);
  assert_gone (pid, "pool SIGKILLed");
  /* srun, SIGTERMed as its parent died, gave back the job it allocated. */
  if (job != NULL)
    ACPU_TEST_WAIT_FOR (!slurm_job_runs (job), GONE_BOUND_S);
}

/* The launcher's local process (ssh, srun, bwrap) SIGKILLed; the pool
 * starts another worker for the next task. */
static void
test_kill_launcher (gconstpointer data)
{
  const char *name = data;
  g_autoptr(ACpuLauncher) launcher = NULL;
  g_autoptr(ACpuProcessTaskPool) pool = NULL;
  GPid pid, launcher_pid;

  if (!engine_ready (name))
    return;

  launcher = engine_launcher (name);
  pool = launcher_pool_new (launcher, 1);
  pid = run_pid (pool);
  launcher_pid = find_child (g_str_equal (name, "ssh") ? "ssh" : g_str_equal (name, "srun") ? "srun" : "bwrap");
  g_assert_cmpint (launcher_pid, >, 0);
  if (g_str_equal (name, "srun"))
    {
      /* srun and its shepherd (a child of its own, in its process group,
       * that ends the step when srun dies) both SIGKILLed, as a kill of
       * the group does: nothing on the Slurm side ends the step, and the
       * worker's stdin stays open. The pool cancels the step. */
      g_autofree char *job = slurm_job_of (pid);

      g_assert_nonnull (job);
      g_assert_cmpint (getpgid (launcher_pid), ==, launcher_pid);
      kill (-launcher_pid, SIGKILL);
      assert_gone (pid, "srun and its shepherd SIGKILLed");
      /* srun allocated the job for this worker: the job is gone too. */
      ACPU_TEST_WAIT_FOR (!slurm_job_runs (job), GONE_BOUND_S);
    }
  else
    {
      kill (launcher_pid, SIGKILL);
      assert_gone (pid, "launcher SIGKILLed");
    }
  /* Once the pool has seen it go, the next task gets a new worker. */
  ACPU_TEST_WAIT_FOR (acpu_process_task_pool_get_n_workers (pool) == 0, GONE_BOUND_S);
  g_assert_cmpint (run_pid (pool), !=, pid);
  acpu_test_shutdown (pool);
}

/* srun alone SIGKILLed (its shepherd lives): the shepherd would end the
 * step, but the pool SIGKILLs what is left of srun's group as soon as it
 * has reaped srun, and cancels the step itself. Either way the worker and
 * the job srun allocated for it are gone. */
static void
test_kill_srun_only (void)
{
  g_autoptr(ACpuLauncher) launcher = NULL;
  g_autoptr(ACpuProcessTaskPool) pool = NULL;
  g_autofree char *job = NULL;
  GPid pid, launcher_pid;

  if (!engine_ready ("srun"))
    return;

  launcher = engine_launcher ("srun");
  pool = launcher_pool_new (launcher, 1);
  pid = run_pid (pool);
  job = slurm_job_of (pid);
  g_assert_nonnull (job);
  launcher_pid = find_child ("srun");
  g_assert_cmpint (launcher_pid, >, 0);
  kill (launcher_pid, SIGKILL);
  assert_gone (pid, "srun alone SIGKILLed");
  ACPU_TEST_WAIT_FOR (!slurm_job_runs (job), GONE_BOUND_S);
  ACPU_TEST_WAIT_FOR (acpu_process_task_pool_get_n_workers (pool) == 0, GONE_BOUND_S);
  g_assert_cmpint (run_pid (pool), !=, pid);
  acpu_test_shutdown (pool);
}

/* The ssh session's sshd child, the worker's parent, killed: the channel
 * may stay open, the worker sees its parent change. */
static void
test_kill_session (gconstpointer data)
{
  const char *name = data;
  g_autoptr(ACpuLauncher) launcher = NULL;
  g_autoptr(ACpuProcessTaskPool) pool = NULL;
  GPid pid, session;

  if (!engine_ready (name))
    return;

  launcher = engine_launcher (name);
  pool = launcher_pool_new (launcher, 1);
  pid = run_pid (pool);
  session = parent_of (pid);
  g_assert_cmpint (session, >, 1);
  g_assert_cmpint (session, !=, getpid ());
  kill (session, SIGKILL);
  assert_gone (pid, "sshd session killed");
  /* Once the pool has seen it go, the next task gets a new worker. */
  ACPU_TEST_WAIT_FOR (acpu_process_task_pool_get_n_workers (pool) == 0, GONE_BOUND_S);
  g_assert_cmpint (run_pid (pool), !=, pid);
  acpu_test_shutdown (pool);
}

/* Sources ------------------------------------------------------------------ */

static GMutex log_lock;
static GString *log_text;

static void
log_cb (const char     *domain,
        GLogLevelFlags  level,
        const char     *message,
        gpointer        user_data)
{
  g_mutex_lock (&log_lock);
  g_string_append_printf (log_text, "%s\n", message);
  g_mutex_unlock (&log_lock);
}

/* ssh to a port nobody listens on. */
static ACpuLauncher *
unreachable_launcher (void)
{
  const char * const options[] = { "-p", "1", "-o", "ConnectTimeout=5", NULL };

  return acpu_launcher_new_ssh ("127.0.0.1", options);
}

/* A pool whose only source cannot start: the task fails, and the message
 * names the launcher and host. */
static void
test_source_unreachable (void)
{
  g_autoptr(ACpuLauncher) launcher = NULL;
  g_autoptr(ACpuProcessTaskPool) pool = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = NULL;
  g_autofree char *ssh = g_find_program_in_path ("ssh");

  if (ssh == NULL)
    {
      g_test_skip ("ssh is not installed");
      return;
    }

  launcher = unreachable_launcher ();
  pool = launcher_pool_new (launcher, 2);
  value = acpu_process_task_pool_run (pool, "echo", g_variant_new ("(s)", "x"), NULL, &error);
  g_assert_error (error, ACPU_ERROR, ACPU_ERROR_WORKER_START);
  g_assert_nonnull (strstr (error->message, "through ssh to 127.0.0.1"));
  g_test_message ("%s", error->message);
  acpu_test_shutdown (pool);
}

/* A launcher that exits at once: GLib may reap it before the pool has read
 * its pid from the GSubprocess, which used to leave the pool without one —
 * "worker process 0" in the message, and no process group to clean up. The
 * child says its pid itself now: every message names a real one. */
static void
test_source_exits_at_once (void)
{
  const char * const prefix[] = { "/bin/sh", "-c", "exit 3", "sh", NULL };
  g_autoptr(ACpuLauncher) launcher = acpu_launcher_new (prefix);

  for (guint i = 0; i < 50; i++)
    {
      g_autoptr(ACpuProcessTaskPool) pool = launcher_pool_new (launcher, 1);
      g_autoptr(GError) error = NULL;
      g_autoptr(GVariant) value = NULL;
      const char *at;
      gint64 pid;

      value = acpu_process_task_pool_run (pool, "echo", g_variant_new ("(s)", "x"), NULL, &error);
      g_assert_error (error, ACPU_ERROR, ACPU_ERROR_WORKER_START);
      at = strstr (error->message, "process ");
      g_assert_nonnull (at);
      pid = g_ascii_strtoll (at + strlen ("process "), NULL, 10);
      if (i == 0)
        g_test_message ("%s", error->message);
      g_assert_cmpint (pid, >, 1);
      acpu_test_shutdown (pool);
    }
}

/* A source that cannot start does not stall a pool that has another: the
 * tasks all run here, and the failure is logged. */
static void
test_source_fallback (void)
{
  g_autoptr(ACpuLauncher) launcher = NULL;
  g_autoptr(ACpuProcessTaskPool) pool = NULL;
  g_autofree char *ssh = g_find_program_in_path ("ssh");
  AcpuTestResult r[6] = { { 0 } };
  guint handler;

  if (ssh == NULL)
    {
      g_test_skip ("ssh is not installed");
      return;
    }

  log_text = g_string_new (NULL);
  handler = g_log_set_handler ("ACpu", G_LOG_LEVEL_MESSAGE, log_cb, NULL);

  launcher = unreachable_launcher ();
  pool = acpu_test_pool_new (1);
  acpu_process_task_pool_add_worker_source (pool, launcher, 2);
  for (guint i = 0; i < G_N_ELEMENTS (r); i++)
    acpu_process_task_pool_run_async (pool, "sleep", g_variant_new ("(u)", 100), NULL,
                                      acpu_test_result_cb, &r[i]);
  for (guint i = 0; i < G_N_ELEMENTS (r); i++)
    {
      acpu_test_result_wait (&r[i]);
      g_assert_no_error (r[i].error);
      acpu_test_result_clear (&r[i]);
    }
  acpu_test_shutdown (pool);

  g_log_remove_handler ("ACpu", handler);
  g_mutex_lock (&log_lock);
  g_test_message ("logged: %s", log_text->str);
  g_assert_nonnull (strstr (log_text->str, "Worker source “ssh to 127.0.0.1” could not start"));
  g_string_free (log_text, TRUE);
  log_text = NULL;
  g_mutex_unlock (&log_lock);
}

/* A launcher belongs to the pool once added: it cannot change under it. */
static void
test_source_frozen (void)
{
  g_autoptr(ACpuLauncher) launcher = acpu_launcher_new_srun (NULL);
  g_autoptr(ACpuProcessTaskPool) pool = acpu_test_pool_new (1);

  g_assert_false (acpu_launcher_get_pass_fds (launcher));
  g_assert_true (acpu_launcher_get_remote (launcher));
  acpu_launcher_set_host (launcher, "cluster");
  acpu_process_task_pool_add_worker_source (pool, launcher, 1);
  if (g_test_undefined ())
    {
      g_test_expect_message ("ACpu", G_LOG_LEVEL_CRITICAL, "*frozen*");
      acpu_launcher_set_host (launcher, "elsewhere");
      g_test_assert_expected_messages ();
    }
  g_assert_cmpstr (acpu_launcher_get_host (launcher), ==, "cluster");
  acpu_test_shutdown (pool);
}

/* The sandbox ---------------------------------------------------------------- */

/* From inside a task: what it can reach. With no launcher, everything (the
 * test can fail); in the sandbox, nothing. */
static void
test_sandbox_confinement (void)
{
  g_autoptr(ACpuLauncher) launcher = NULL;
  g_autoptr(ACpuProcessTaskPool) pool = NULL;
  g_autoptr(ACpuProcessTaskPool) local = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = NULL;
  g_autofree char *secret = NULL;
  int fd;

  if (!engine_ready ("sandbox"))
    return;

  secret = g_build_filename (g_get_home_dir (), "acpu-secret-XXXXXX", NULL);
  fd = g_mkstemp (secret);
  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (write (fd, "secret", 6), ==, 6);
  close (fd);

  local = acpu_test_pool_new (1);
  value = acpu_process_task_pool_run (local, "confinement",
                                      g_variant_new ("(si)", secret, (gint32) getpid ()), NULL, &error);
  g_assert_no_error (error);
  /* Without a sandbox the same task reads the file, opens an AF_INET
   * socket and sees the pool (AF_INET6 depends on the kernel here). */
  {
    gboolean read_file, inet, sees_parent, tty, inet6;

    g_variant_get (value, "(bbbbb)", &read_file, &inet, &sees_parent, &tty, &inet6);
    g_assert_true (read_file);
    g_assert_true (inet);
    g_assert_true (sees_parent);
    g_assert_false (tty);
  }
  g_clear_pointer (&value, g_variant_unref);
  acpu_test_shutdown (local);

  launcher = acpu_launcher_new_bwrap_sandbox ();
  pool = launcher_pool_new (launcher, 1);
  value = acpu_process_task_pool_run (pool, "confinement",
                                      g_variant_new ("(si)", secret, (gint32) getpid ()), NULL, &error);
  g_unlink (secret);
  g_assert_no_error (error);
  /* read the planted file, AF_INET, the parent's pid, a terminal, AF_INET6 */
  acpu_test_assert_prints (value, "(false, false, false, false, false)");
  acpu_test_shutdown (pool);
}

/* Before: bwrap's --new-session gave each sandboxed worker a session of its
 * own, which with the kernel's autogroups is a scheduling group of its own:
 * its worker-priority counted only against itself, not against the
 * application's threads. Now it stays in the application's session and
 * group, with no terminal all the same: the parent has one here (a pty of
 * its own), and the worker cannot open it. */
static void
test_sandbox_session (void)
{
  if (g_test_subprocess ())
    {
      g_autoptr(ACpuLauncher) launcher = NULL;
      g_autoptr(ACpuProcessTaskPool) pool = NULL;
      g_autoptr(GError) error = NULL;
      g_autoptr(GVariant) value = NULL;
      g_autofree char *own_autogroup = NULL;
      const char *autogroup;
      int master, slave;
      gint32 err, leads;

      if (!engine_ready ("sandbox"))
        return;
      master = acpu_test_take_terminal (&slave);

      launcher = acpu_launcher_new_bwrap_sandbox ();
      pool = launcher_pool_new (launcher, 1);
      value = acpu_process_task_pool_run (pool, "session", NULL, NULL, &error);
      g_assert_no_error (error);
      g_variant_get (value, "(ii&s)", &err, &leads, &autogroup);
      g_test_message ("sandboxed worker: open (\"/dev/tty\"): %s, leads its session: %d, "
                      "autogroup %s", err ? g_strerror (err) : "opened", leads, autogroup);
      g_assert_cmpint (err, ==, ENXIO);
      g_assert_false (leads);
      if (g_file_get_contents ("/proc/self/autogroup", &own_autogroup, NULL, NULL))
        g_assert_cmpstr (autogroup, ==, own_autogroup);
      acpu_test_shutdown (pool);
      g_clear_object (&pool);
      acpu_test_drop_terminal (master, slave);
      return;
    }

  if (!engine_ready ("sandbox"))
    return;
  g_test_summary ("A sandboxed worker has no controlling terminal, even when the parent has "
                  "one, and stays in the application's session and scheduling group "
                  "(autogroup), where its worker-priority counts");
  g_test_trap_subprocess (NULL, 120 * G_USEC_PER_SEC, G_TEST_SUBPROCESS_INHERIT_STDOUT);
  g_test_trap_assert_passed ();
}

/* The worker-memory-limit holds inside the sandbox. */
static void
test_sandbox_memory_limit (void)
{
  g_autoptr(ACpuLauncher) launcher = NULL;
  g_autoptr(ACpuProcessTaskPool) pool = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = NULL;

  if (!engine_ready ("sandbox"))
    return;

  /* AddressSanitizer reserves terabytes of address space. */
  if (g_getenv ("ASAN_OPTIONS") != NULL)
    {
      g_test_skip ("RLIMIT_AS and AddressSanitizer do not mix");
      return;
    }

  launcher = acpu_launcher_new_bwrap_sandbox ();
  pool = launcher_pool_new (launcher, 1);
  acpu_process_task_pool_set_worker_memory_limit (pool, 256 << 20);
  value = acpu_process_task_pool_run (pool, "echo", g_variant_new ("(s)", "small"), NULL, &error);
  g_assert_no_error (error);
  g_clear_pointer (&value, g_variant_unref);
  /* bwrap itself ran under the limit; 1 GiB cannot be had under it. */
  value = acpu_process_task_pool_run (pool, "bytes", g_variant_new ("(t)", (guint64) 1 << 30), NULL, &error);
  g_assert_error (error, ACPU_ERROR, ACPU_ERROR_WORKER_DIED);
  g_assert_null (value);
  acpu_test_shutdown (pool);
}

/* No bwrap: a clear ACPU_ERROR_WORKER_START, never an unsandboxed worker. */
static void
test_sandbox_no_bwrap (void)
{
  if (g_test_subprocess ())
    {
      g_autoptr(ACpuLauncher) launcher = acpu_launcher_new_bwrap_sandbox ();
      g_autoptr(ACpuProcessTaskPool) pool = NULL;
      g_autoptr(GError) error = NULL;
      g_autoptr(GVariant) value = NULL;

      g_setenv ("PATH", "/nonexistent", TRUE);
      pool = launcher_pool_new (launcher, 1);
      value = acpu_process_task_pool_run (pool, "pid", NULL, NULL, &error);
      g_assert_error (error, ACPU_ERROR, ACPU_ERROR_WORKER_START);
      g_assert_null (value);
      g_printerr ("%s\n", error->message);
      acpu_test_shutdown (pool);
      return;
    }

  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
  g_test_trap_assert_stderr ("*through the bwrap sandbox*bubblewrap (bwrap) is not installed*");
}

/* bwrap that cannot create namespaces (inside another sandbox, a container:
 * firejail #6906, AppImages, Docker's root without CAP_SYS_ADMIN): run the
 * pool inside a bwrap that forbids new user namespaces (--disable-userns)
 * and drops every capability, so that the preset's bwrap fails for real (as
 * root: "Creating new namespace failed: Operation not permitted"; as a user:
 * no user namespace to make the others in). A clear ACPU_ERROR_WORKER_START
 * that names the launcher and says what is wrong; never an unsandboxed
 * worker. */
static void
test_sandbox_no_namespaces (void)
{
  g_autofree char *self = g_file_read_link ("/proc/self/exe", NULL);
  const char *argv[] = {
    "bwrap", "--unshare-user", "--disable-userns", "--cap-drop", "ALL",
    "--dev-bind", "/", "/",
    "--", self, "--sandbox-child", NULL
  };
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autoptr(GError) error = NULL;
  int status = 0;

  if (!engine_ready ("sandbox"))
    return;

  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL,
                               &out, &err, &status, &error));
  g_assert_no_error (error);
  g_test_message ("stdout: %s", out);
  g_test_message ("stderr: %s", err);
  /* An older bwrap (no --disable-userns), or no user namespace for the
   * outer one: the machine's limit, not the library's. */
  if (*out == '\0' && g_str_has_prefix (err, "bwrap:"))
    {
      g_test_skip_printf ("cannot run a pool in a sandbox without namespaces here: %s",
                          err);
      return;
    }
  g_assert_true (g_spawn_check_wait_status (status, NULL));
  /* The code, who, and what. */
  {
    g_autofree char *code = g_strdup_printf ("acpu-error-quark code %d:", ACPU_ERROR_WORKER_START);

    g_assert_nonnull (strstr (out, code));
  }
  g_assert_nonnull (strstr (out, "through the bwrap sandbox"));
  g_assert_nonnull (strstr (out, "bwrap cannot create the sandbox's namespaces here"));
  g_assert_nonnull (strstr (out, "never run outside the sandbox"));
  /* bwrap's own reason is kept. */
  g_assert_nonnull (strstr (out, "bwrap: "));
  g_assert_null (strstr (out, "pid ("));
}

/* --sandbox-child: runs `pid` through the sandbox preset and prints the
 * error it got (or the pid it should not have got). */
static int
sandbox_child (void)
{
  g_autofree char *self = g_file_read_link ("/proc/self/exe", NULL);
  g_autofree char *dir = g_path_get_dirname (self);
  g_autofree char *worker = g_build_filename (dir, "acpu-test-worker", NULL);
  const char *argv[] = { worker, NULL };
  g_autoptr(ACpuLauncher) launcher = acpu_launcher_new_bwrap_sandbox ();
  g_autoptr(ACpuProcessTaskPool) pool = acpu_process_task_pool_new (argv, 1);
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = NULL;

  acpu_process_task_pool_add_worker_source (pool, NULL, 0);
  acpu_process_task_pool_add_worker_source (pool, launcher, 1);
  value = acpu_process_task_pool_run (pool, "pid", NULL, NULL, &error);
  if (value != NULL)
    g_print ("pid %s\n", g_variant_print (value, FALSE));
  else
    g_print ("%s code %d: %s\n", g_quark_to_string (error->domain), error->code, error->message);
  acpu_process_task_pool_set_cancel_tasks_when_shutdown (pool, TRUE);
  acpu_process_task_pool_shutdown (pool, NULL, NULL);
  return 0;
}

/* --pool-child ENGINE: a pool whose worker runs through ENGINE's launcher
 * (its environment comes from the parent test); prints the worker's pid
 * and waits to be killed. */
static int
pool_child (const char *name)
{
  g_autofree char *self = g_file_read_link ("/proc/self/exe", NULL);
  g_autofree char *dir = g_path_get_dirname (self);
  g_autofree char *worker = g_build_filename (dir, "acpu-test-worker", NULL);
  const char *argv[] = { worker, NULL };
  g_autoptr(ACpuLauncher) launcher = engine_launcher (name);
  g_autoptr(ACpuProcessTaskPool) pool = acpu_process_task_pool_new (argv, 1);
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) value = NULL;
  gint32 pid;

  acpu_process_task_pool_add_worker_source (pool, NULL, 0);
  acpu_process_task_pool_add_worker_source (pool, launcher, 1);
  value = acpu_process_task_pool_run (pool, "pid", NULL, NULL, &error);

  if (value == NULL)
    {
      g_printerr ("pool child: %s\n", error->message);
      return 1;
    }
  g_variant_get (value, "(i)", &pid);
  g_print ("%d\n", (int) pid);
  fflush (stdout);
  for (;;)
    pause ();
}

int
main (int   argc,
      char *argv[])
{
  static const char * const remote[] = { "bwrap", "ssh", "srun", NULL };
  static const char * const killable[] = { "bwrap", "ssh", "srun", NULL };

  if (argc == 3 && g_str_equal (argv[1], "--pool-child"))
    return pool_child (argv[2]);
  if (argc == 2 && g_str_equal (argv[1], "--sandbox-child"))
    return sandbox_child ();

  g_test_init (&argc, &argv, NULL);

  for (guint i = 0; remote[i] != NULL; i++)
    {
      g_autofree char *results = g_strdup_printf ("/launchers/%s/results", remote[i]);
      g_autofree char *big = g_strdup_printf ("/launchers/%s/big", remote[i]);
      g_autofree char *crash = g_strdup_printf ("/launchers/%s/crash", remote[i]);
      g_autofree char *cancel = g_strdup_printf ("/launchers/%s/cancel", remote[i]);

      g_test_add_data_func (results, remote[i], test_results);
      g_test_add_data_func (big, remote[i], test_big);
      g_test_add_data_func (crash, remote[i], test_crash);
      g_test_add_data_func (cancel, remote[i], test_cancel);
    }
  for (guint i = 0; killable[i] != NULL; i++)
    {
      g_autofree char *pool = g_strdup_printf ("/launchers/%s/kill-pool", killable[i]);
      g_autofree char *launcher = g_strdup_printf ("/launchers/%s/kill-launcher", killable[i]);

      g_test_add_data_func (pool, killable[i], test_kill_pool);
      g_test_add_data_func (launcher, killable[i], test_kill_launcher);
    }
  g_test_add_data_func ("/launchers/ssh/kill-session", "ssh", test_kill_session);
  g_test_add_func ("/launchers/srun/kill-srun-only", test_kill_srun_only);

  g_test_add_data_func ("/launchers/sandbox/results", "sandbox", test_results);
  g_test_add_data_func ("/launchers/sandbox/big", "sandbox", test_big);
  g_test_add_data_func ("/launchers/sandbox/crash", "sandbox", test_crash);
  g_test_add_func ("/launchers/sandbox/confinement", test_sandbox_confinement);
  g_test_add_func ("/launchers/sandbox/session", test_sandbox_session);
  g_test_add_func ("/launchers/sandbox/memory-limit", test_sandbox_memory_limit);
  g_test_add_func ("/launchers/sandbox/no-bwrap", test_sandbox_no_bwrap);
  g_test_add_func ("/launchers/sandbox/no-namespaces", test_sandbox_no_namespaces);

  g_test_add_func ("/launchers/source/unreachable", test_source_unreachable);
  g_test_add_func ("/launchers/source/fallback", test_source_fallback);
  g_test_add_func ("/launchers/source/frozen", test_source_frozen);
  g_test_add_func ("/launchers/source/exits-at-once", test_source_exits_at_once);

  return g_test_run ();
}
