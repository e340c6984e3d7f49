/* acpu-launcher.c
 *
 * Copyright 2026 The asynccpu-glib authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* A launcher: a command line put in front of the worker's, and what the
 * pool must know about it. The pool's channel is the worker's stdin and
 * stdout, so anything that relays stdio can carry it: bwrap as it is (the
 * socketpair itself), ssh as pipes, `srun -u` as a pipe and a pty. The
 * worker tells in its hello whether its channel is a Unix socket; memfds go
 * only where it is and the launcher allows them.
 *
 * A launcher is mutable until a pool takes it (acpu_launcher_freeze());
 * then it is read-only and any thread may read it.
 */

#include "config.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "acpu-error.h"
#include "acpu-launcher-private.h"

#ifdef HAVE_LIBSECCOMP
# include <sched.h>
# include <seccomp.h>
# include <sys/mman.h>
# include <sys/ioctl.h>
# include <sys/socket.h>
#endif

typedef enum
{
  LAUNCHER_PREFIX,
  LAUNCHER_SSH,
  LAUNCHER_SRUN,
  LAUNCHER_SANDBOX,
} LauncherKind;

/**
 * ACpuLauncher:
 *
 * How a pool starts some of its workers: a command put in front of the
 * worker's command line, such as `bwrap …`, `ssh host` or `srun -u`, and
 * what the pool must know about it.
 *
 * Give one to [method@ACpu.ProcessTaskPool.add_worker_source] with how many
 * workers it may run:
 *
 * ```c
 * g_autoptr(ACpuLauncher) host_a = acpu_launcher_new_ssh ("build@host-a", NULL);
 * g_autoptr(ACpuLauncher) slurm = acpu_launcher_new_srun (NULL);
 *
 * acpu_process_task_pool_set_max_workers (pool, 2);         // 2 here
 * acpu_process_task_pool_add_worker_source (pool, host_a, 4); // 4 on host A
 * acpu_process_task_pool_add_worker_source (pool, slurm, 8);  // 8 through srun
 * ```
 *
 * The pool's channel to a worker is the worker's standard input and output,
 * so any launcher that relays them works: a launcher that keeps them as
 * they are (bubblewrap) still lets large values travel in sealed memfds; one
 * that relays them through pipes or a pseudo-terminal (ssh, `srun -u`)
 * carries them inline, within [property@ACpu.ProcessTaskPool:max-message-size].
 * A worker started through a launcher exits when its channel closes, and
 * when the process that started it goes away, so that no worker outlives
 * its pool on another machine either.
 *
 * A launcher may be changed until a pool takes it; from then on it is
 * read-only.
 *
 * Since: 0.1
 */

struct _ACpuLauncher
{
  GObject        parent_instance;
  LauncherKind   kind;
  char         **prefix;
  char          *host;
  gboolean       quote_argv;
  gboolean       pass_fds;
  gboolean       remote;
  gint           frozen;       /* atomic */
};

G_DEFINE_FINAL_TYPE (ACpuLauncher, acpu_launcher, G_TYPE_OBJECT)

/* Any thread. */
static void
acpu_launcher_finalize (GObject *object)
{
  ACpuLauncher *self = (ACpuLauncher *) object;

  g_strfreev (self->prefix);
  g_free (self->host);

  G_OBJECT_CLASS (acpu_launcher_parent_class)->finalize (object);
}

static void
acpu_launcher_class_init (ACpuLauncherClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = acpu_launcher_finalize;
}

static void
acpu_launcher_init (ACpuLauncher *self)
{
  self->pass_fds = TRUE;
}

/* Any thread: a launcher of @kind with @prefix then @options. */
static ACpuLauncher *
launcher_new (LauncherKind        kind,
              const char * const *prefix,
              const char * const *options,
              const char * const *suffix)
{
  ACpuLauncher *self = g_object_new (ACPU_TYPE_LAUNCHER, NULL);
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();

  self->kind = kind;
  if (prefix != NULL)
    g_strv_builder_addv (builder, (const char **) prefix);
  if (options != NULL)
    g_strv_builder_addv (builder, (const char **) options);
  if (suffix != NULL)
    g_strv_builder_addv (builder, (const char **) suffix);
  self->prefix = g_strv_builder_end (builder);
  return self;
}

/**
 * acpu_launcher_new:
 * @prefix: (array zero-terminated=1): the command put in front of the
 *   worker's command line, as an argument vector
 *
 * Creates a launcher that starts each worker as @prefix followed by the
 * worker's command line, such as `{ "nice", "-n", "10", NULL }` or a
 * container's `exec` command.
 *
 * The worker's environment variables are set in the prefix's environment;
 * a prefix that does not pass its environment on (ssh) must also be made
 * [method@ACpu.Launcher.set_remote], and one that joins its arguments into
 * a shell command [method@ACpu.Launcher.set_quote_argv].
 *
 * Returns: (transfer full): a new launcher
 *
 * Since: 0.1
 */
ACpuLauncher *
acpu_launcher_new (const char * const *prefix)
{
  g_return_val_if_fail (prefix != NULL && prefix[0] != NULL, NULL);

  return launcher_new (LAUNCHER_PREFIX, prefix, NULL, NULL);
}

/**
 * acpu_launcher_new_ssh:
 * @destination: where to run workers, as ssh takes it: `host` or `user@host`
 * @ssh_options: (array zero-terminated=1) (nullable): more options for
 *   ssh, such as `{ "-p", "2222", "-i", "key", NULL }`
 *
 * Creates a launcher that starts each worker on @destination through
 * `ssh -T -o BatchMode=yes` (no terminal, no password prompt: set up keys
 * or an agent). The worker's program must be installed at the same path
 * there; its command line is quoted into one POSIX shell command.
 *
 * ssh carries the channel through pipes, so values travel inline (no
 * memfds), and it forwards no signals: a worker there ends when its
 * channel closes or its parent (the remote sshd session) goes away.
 * [property@ACpu.ProcessTaskPool:worker-memory-limit] does not apply there.
 *
 * Returns: (transfer full): a new launcher
 *
 * Since: 0.1
 */
ACpuLauncher *
acpu_launcher_new_ssh (const char         *destination,
                       const char * const *ssh_options)
{
  static const char * const prefix[] = {
    "ssh", "-T", "-e", "none", "-o", "BatchMode=yes",
    "-o", "ServerAliveInterval=10", "-o", "ServerAliveCountMax=3", NULL
  };
  const char * const suffix[] = { "--", destination, NULL };
  ACpuLauncher *self;

  g_return_val_if_fail (destination != NULL && *destination != '\0' && *destination != '-', NULL);

  self = launcher_new (LAUNCHER_SSH, prefix, ssh_options, suffix);
  self->host = g_strdup (destination);
  self->quote_argv = TRUE;
  self->pass_fds = FALSE;
  self->remote = TRUE;
  return self;
}

/**
 * acpu_launcher_new_srun:
 * @srun_options: (array zero-terminated=1) (nullable): more options for
 *   srun, such as `{ "--partition=fast", "--cpus-per-task=4", NULL }`
 *
 * Creates a launcher that starts each worker as one Slurm job step:
 * `srun -N1 -n1 --quiet -u`. Inside an allocation (`salloc`, `sbatch`) the
 * steps run on its nodes; outside one, each worker is a job of its own.
 *
 * `-u` is what makes the channel work: without it slurmstepd buffers the
 * worker's output by lines. The worker's output is then a pseudo-terminal,
 * which the worker puts in raw mode; values travel inline (no memfds).
 * Killing srun ends the step.
 *
 * Returns: (transfer full): a new launcher
 *
 * Since: 0.1
 */
ACpuLauncher *
acpu_launcher_new_srun (const char * const *srun_options)
{
  static const char * const prefix[] = { "srun", "-N1", "-n1", "--quiet", "-u", NULL };
  ACpuLauncher *self = launcher_new (LAUNCHER_SRUN, prefix, srun_options, NULL);

  self->pass_fds = FALSE;
  self->remote = TRUE;
  return self;
}

/**
 * acpu_launcher_new_bwrap_sandbox:
 *
 * Creates a launcher that runs each worker in a bubblewrap sandbox, the way
 * glycin runs image loaders: new user, pid, network, IPC, UTS and cgroup
 * namespaces, no controlling terminal, death with the pool, an environment
 * of its own (the pool's locale and library paths only), the system's
 * `/usr` read-only, a private tmpfs home and `/tmp`,
 * and the worker's own program and libraries, and the files and directories
 * named on its command line, read-only; when the library
 * was built with libseccomp, a seccomp filter that refuses new network
 * sockets, ptrace(), mount(), the TIOCSTI ioctl and the like.
 * [property@ACpu.ProcessTaskPool:worker-memory-limit] applies inside.
 *
 * Inside Flatpak (`/.flatpak-info` exists) the workers are started with
 * `flatpak-spawn --sandbox --no-network` instead.
 *
 * There is no fallback: when bwrap is not installed, or cannot create its
 * namespaces here (inside some containers and sandboxes), starting a worker
 * fails with %ACPU_ERROR_WORKER_START and bwrap's own reason.
 *
 * Returns: (transfer full): a new launcher
 *
 * Since: 0.1
 */
ACpuLauncher *
acpu_launcher_new_bwrap_sandbox (void)
{
  static const char * const prefix[] = { "bwrap", NULL };

  return launcher_new (LAUNCHER_SANDBOX, prefix, NULL, NULL);
}

/**
 * acpu_launcher_get_prefix:
 * @self: a launcher
 *
 * Gets the command put in front of the worker's command line. For the
 * sandbox, the options that depend on the worker are added when it starts.
 *
 * Returns: (transfer none) (array zero-terminated=1): the prefix
 *
 * Since: 0.1
 */
const char * const *
acpu_launcher_get_prefix (ACpuLauncher *self)
{
  g_return_val_if_fail (ACPU_IS_LAUNCHER (self), NULL);

  return (const char * const *) self->prefix;
}

/**
 * acpu_launcher_get_host:
 * @self: a launcher
 *
 * Gets the host its workers run on, as messages name it.
 *
 * Returns: (nullable): the host, or %NULL when it is not known
 *
 * Since: 0.1
 */
const char *
acpu_launcher_get_host (ACpuLauncher *self)
{
  g_return_val_if_fail (ACPU_IS_LAUNCHER (self), NULL);

  return self->host;
}

#define RETURN_IF_FROZEN(self) \
  g_return_if_fail (!g_atomic_int_get (&(self)->frozen))

/**
 * acpu_launcher_set_host:
 * @self: a launcher
 * @host: (nullable): the host its workers run on
 *
 * Sets the host its workers run on, for messages. Only before a pool took
 * the launcher.
 *
 * Since: 0.1
 */
void
acpu_launcher_set_host (ACpuLauncher *self,
                        const char   *host)
{
  g_return_if_fail (ACPU_IS_LAUNCHER (self));
  RETURN_IF_FROZEN (self);

  g_free (self->host);
  self->host = g_strdup (host);
}

/**
 * acpu_launcher_get_quote_argv:
 * @self: a launcher
 *
 * Gets whether the worker's command line is given to the prefix as one
 * shell command.
 *
 * Returns: whether the command line is quoted into one argument
 *
 * Since: 0.1
 */
gboolean
acpu_launcher_get_quote_argv (ACpuLauncher *self)
{
  g_return_val_if_fail (ACPU_IS_LAUNCHER (self), FALSE);

  return self->quote_argv;
}

/**
 * acpu_launcher_set_quote_argv:
 * @self: a launcher
 * @quote_argv: whether to quote the command line into one argument
 *
 * Sets whether the worker's command line is quoted for a POSIX shell and
 * given to the prefix as one argument, `exec env NAME=VALUE… 'program'
 * 'argument'…`, as ssh wants it: ssh joins its arguments into one string
 * that the remote shell splits again. Only before a pool took the launcher.
 *
 * Since: 0.1
 */
void
acpu_launcher_set_quote_argv (ACpuLauncher *self,
                              gboolean      quote_argv)
{
  g_return_if_fail (ACPU_IS_LAUNCHER (self));
  RETURN_IF_FROZEN (self);

  self->quote_argv = !!quote_argv;
}

/**
 * acpu_launcher_get_pass_fds:
 * @self: a launcher
 *
 * Gets whether the pool may pass file descriptors (sealed memfds for large
 * values) to workers started through it.
 *
 * Returns: whether descriptors may be passed
 *
 * Since: 0.1
 */
gboolean
acpu_launcher_get_pass_fds (ACpuLauncher *self)
{
  g_return_val_if_fail (ACPU_IS_LAUNCHER (self), FALSE);

  return self->pass_fds;
}

/**
 * acpu_launcher_set_pass_fds:
 * @self: a launcher
 * @pass_fds: whether descriptors may be passed
 *
 * Sets whether the pool may pass file descriptors to workers started
 * through it. Even when it may, it passes them only to a worker that says
 * its channel is a Unix socket; set it to %FALSE for a launcher that relays
 * the channel through a Unix socket of its own, which would drop them.
 * Only before a pool took the launcher.
 *
 * Since: 0.1
 */
void
acpu_launcher_set_pass_fds (ACpuLauncher *self,
                            gboolean      pass_fds)
{
  g_return_if_fail (ACPU_IS_LAUNCHER (self));
  RETURN_IF_FROZEN (self);

  self->pass_fds = !!pass_fds;
}

/**
 * acpu_launcher_get_remote:
 * @self: a launcher
 *
 * Gets whether workers started through it run on another machine.
 *
 * Returns: whether its workers are remote
 *
 * Since: 0.1
 */
gboolean
acpu_launcher_get_remote (ACpuLauncher *self)
{
  g_return_val_if_fail (ACPU_IS_LAUNCHER (self), FALSE);

  return self->remote;
}

/**
 * acpu_launcher_set_remote:
 * @self: a launcher
 * @remote: whether its workers run on another machine
 *
 * Sets whether workers started through it run on another machine: then
 * the worker's environment variables go on its command line (`env
 * NAME=VALUE …`), and the pool's resource limits, which would bind the
 * local launcher process only, are not set. Only before a pool took the
 * launcher.
 *
 * Since: 0.1
 */
void
acpu_launcher_set_remote (ACpuLauncher *self,
                          gboolean      remote)
{
  g_return_if_fail (ACPU_IS_LAUNCHER (self));
  RETURN_IF_FROZEN (self);

  self->remote = !!remote;
}

/**
 * acpu_launcher_describe:
 * @self: a launcher
 *
 * Describes the launcher in a few words, as the pool's messages name it:
 * “ssh to user@host”, “srun”, “the bwrap sandbox”.
 *
 * Returns: (transfer full): a description
 *
 * Since: 0.1
 */
char *
acpu_launcher_describe (ACpuLauncher *self)
{
  g_return_val_if_fail (ACPU_IS_LAUNCHER (self), NULL);

  switch (self->kind)
    {
    case LAUNCHER_SSH:
      return g_strdup_printf ("ssh to %s", self->host);
    case LAUNCHER_SRUN:
      return self->host != NULL ? g_strdup_printf ("srun on %s", self->host) : g_strdup ("srun");
    case LAUNCHER_SANDBOX:
      return g_strdup ("the bwrap sandbox");
    case LAUNCHER_PREFIX:
    default:
      {
        g_autofree char *name = g_path_get_basename (self->prefix[0]);

        return self->host != NULL ? g_strdup_printf ("%s on %s", name, self->host)
                                  : g_strdup (name);
      }
    }
}

/* Any thread. */
void
acpu_launcher_freeze (ACpuLauncher *self)
{
  g_atomic_int_set (&self->frozen, TRUE);
}

/* Any thread, frozen. */
gboolean
acpu_launcher_limits_apply (ACpuLauncher *self)
{
  return !self->remote;
}

/* Any thread, frozen. */
int
acpu_launcher_get_stop_signal (ACpuLauncher *self)
{
  return self->kind == LAUNCHER_SRUN ? SIGTERM : SIGKILL;
}

/* Any thread, frozen: a sentence (starting with "; ") that says what is
 * wrong when a worker started through the launcher died before its
 * handshake having written @stderr_text (untrusted: only looked at), or
 * NULL. bwrap's own words (“Creating new namespace failed: nesting depth or
 * /proc/sys/user/max_*_namespaces exceeded (ENOSPC)”, “No permissions to
 * create new namespace”, “setting up uid map: Permission denied”) do not
 * say that the sandbox cannot exist here, nor that nothing runs without it. */
char *
acpu_launcher_explain_failure (ACpuLauncher *self,
                               const char   *stderr_text)
{
  if (self->kind != LAUNCHER_SANDBOX || stderr_text == NULL || strstr (stderr_text, "bwrap:") == NULL)
    return NULL;
  if (strstr (stderr_text, "namespace") != NULL || strstr (stderr_text, "uid map") != NULL)
    return g_strdup ("; bwrap cannot create the sandbox's namespaces here (user namespaces are "
                     "disabled, or this process runs in another sandbox or a container that "
                     "forbids them), and a worker is never run outside the sandbox it was "
                     "asked to run in");
  return NULL;
}

/* Cleaning up after srun ---------------------------------------------------- */

/* What acpu_launcher_reaped() runs, detached: `sh -c SCRIPT sh HOST PID
 * MODE`. It cancels the job steps that srun HOST:PID started
 * (`scontrol -o show steps` names each step's `SrunHost:Pid`), or their jobs
 * in MODE `job` (srun allocated them itself). */
static const char srun_cleanup_script[] =
  "scontrol -o show steps 2>/dev/null | while read -r line; do\n"
  "  case \" $line \" in *\" SrunHost:Pid=$1:$2 \"*) ;; *) continue ;; esac\n"
  "  step=${line#StepId=}; step=${step%% *}\n"
  "  [ \"$3\" = job ] && step=${step%%.*}\n"
  "  scancel \"$step\"\n"
  "done\n";

/* Any thread, frozen: whether the launcher runs srun (the preset, or a
 * prefix of one's own that starts with it). */
static gboolean
launcher_is_srun (ACpuLauncher *self)
{
  g_autofree char *name = NULL;

  if (self->kind == LAUNCHER_SRUN)
    return TRUE;
  if (self->kind != LAUNCHER_PREFIX)
    return FALSE;
  name = g_path_get_basename (self->prefix[0]);
  return g_str_equal (name, "srun");
}

/* Any thread, frozen: whether srun runs its steps in an allocation it did
 * not make (`salloc`, `sbatch`, `--jobid`), which must outlive them. */
static gboolean
launcher_srun_in_allocation (ACpuLauncher *self)
{
  if (g_getenv ("SLURM_JOB_ID") != NULL || g_getenv ("SLURM_JOBID") != NULL)
    return TRUE;
  for (guint i = 0; self->prefix[i] != NULL; i++)
    if (g_str_has_prefix (self->prefix[i], "--jobid"))
      return TRUE;
  return FALSE;
}

/* [io]: @pid, started through the launcher, has been reaped with
 * @wait_status. srun ends its job step when it exits, and when it is
 * SIGKILLed its shepherd (a child of its own, in its process group) does;
 * but the pool SIGKILLs what is left of the group at once, and a user who
 * kills srun's group kills both. Then the step, and the worker in it, run
 * on with their stdin open: nothing on the worker's side says that srun is
 * gone (slurmstepd keeps the pipes; srun's message port is the only trace,
 * and probing it makes srun log an error each time). So when srun ended by a
 * signal, the pool does what the shepherd would have done: cancels the steps
 * this srun started, or the job when srun allocated it. The cleanup runs
 * detached (GLib's intermediate child reaps it), so that it ends its work
 * even when this process exits right away; it finds nothing when srun or
 * its shepherd had time to end the step. */
void
acpu_launcher_reaped (ACpuLauncher *self,
                      GPid          pid,
                      int           wait_status)
{
  g_autofree char *host = NULL;
  g_autofree char *pid_str = NULL;
  g_autoptr(GError) error = NULL;
  char *dot;

  if (pid <= 0 || !WIFSIGNALED (wait_status) || !launcher_is_srun (self))
    return;

  /* Slurm records srun's host by its short name. */
  host = g_strdup (g_get_host_name ());
  if ((dot = strchr (host, '.')) != NULL)
    *dot = '\0';
  pid_str = g_strdup_printf ("%d", (int) pid);

  {
    const char *argv[] = {
      "/bin/sh", "-c", srun_cleanup_script, "sh", host, pid_str,
      launcher_srun_in_allocation (self) ? "step" : "job", NULL
    };

    if (!g_spawn_async (NULL, (char **) argv, NULL,
                        G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL,
                        NULL, NULL, NULL, &error))
      g_warning ("Could not cancel the job step of srun %d, SIGKILLed: %s", (int) pid, error->message);
  }
}

/* Building the command line ------------------------------------------------ */

/* Any thread: adds @str to @builder and frees it (g_strv_builder_take() is
 * GLib 2.80). */
static void
builder_take (GStrvBuilder *builder,
              char         *str)
{
  g_strv_builder_add (builder, str);
  g_free (str);
}

/* Any thread: the worker's program as another process must name it. The
 * pool's own program is `/proc/self/exe`, which names the launcher's
 * program once the launcher runs it (or another machine's): resolve it
 * here, and make a relative path absolute, for a launcher whose working
 * directory is not ours. */
static char *
resolve_program (const char *program)
{
  if (g_strcmp0 (program, "/proc/self/exe") == 0)
    {
      char *target = g_file_read_link (program, NULL);

      if (target != NULL)
        return target;
    }
  if (strchr (program, '/') != NULL && !g_path_is_absolute (program))
    return g_canonicalize_filename (program, NULL);
  return g_strdup (program);
}

/* The pool's variables a sandboxed worker keeps: the locale, GLib's
 * debugging, and the paths that find the worker's libraries and modules. */
static const char * const sandbox_passed_env[] = {
  "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "LC_MESSAGES", "LC_NUMERIC", "TZ",
  "G_MESSAGES_DEBUG", "G_DEBUG", "G_SLICE", "MALLOC_CHECK_",
  "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS",
  "LD_LIBRARY_PATH", "GI_TYPELIB_PATH", "PYTHONPATH", "GJS_PATH", "XDG_DATA_DIRS",
  NULL
};

/* The variables whose directories the sandbox binds read-only. */
static const char * const sandbox_path_env[] = {
  "LD_LIBRARY_PATH", "GI_TYPELIB_PATH", "PYTHONPATH", "GJS_PATH", NULL
};

/* Any thread: adds @dir to @dirs (a set of directories to bind read-only)
 * unless the system directories have it already. */
static void
add_bind_dir (GPtrArray  *dirs,
              const char *dir)
{
  g_autofree char *canon = NULL;

  if (dir == NULL || !g_path_is_absolute (dir) || !g_file_test (dir, G_FILE_TEST_IS_DIR))
    return;
  canon = g_canonicalize_filename (dir, NULL);
  if (strcmp (canon, "/") == 0 || g_str_has_prefix (canon, "/usr/") || strcmp (canon, "/usr") == 0 ||
      g_str_has_prefix (canon, "/proc") || g_str_has_prefix (canon, "/dev"))
    return;
  for (guint i = 0; i < dirs->len; i++)
    if (strcmp (dirs->pdata[i], canon) == 0)
      return;
  g_ptr_array_add (dirs, g_steal_pointer (&canon));
}

/* Any thread: the directories a sandboxed @worker_argv needs to see: its
 * program's, those of its arguments that are files (a script), its
 * arguments that are directories (a module path), this library's, and
 * those of the library path variables. */
static GPtrArray *
sandbox_bind_dirs (const char * const *worker_argv)
{
  GPtrArray *dirs = g_ptr_array_new_with_free_func (g_free);
  Dl_info info;

  for (guint i = 0; worker_argv[i] != NULL; i++)
    {
      g_autofree char *path = i == 0 ? resolve_program (worker_argv[0]) : g_strdup (worker_argv[i]);
      g_autofree char *real = NULL;

      if (!g_path_is_absolute (path))
        continue;
      /* A directory it was given (a module path) is bound itself. */
      if (i > 0 && g_file_test (path, G_FILE_TEST_IS_DIR))
        {
          add_bind_dir (dirs, path);
          continue;
        }
      if (!g_file_test (path, G_FILE_TEST_IS_REGULAR))
        continue;
      real = realpath (path, NULL);
      for (const char *p = path; p != NULL; p = (p == path && real != NULL) ? real : NULL)
        {
          g_autofree char *dir = g_path_get_dirname (p);

          add_bind_dir (dirs, dir);
          if (p == real)
            break;
        }
    }

  if (dladdr ((void *) acpu_launcher_new, &info) != 0 && info.dli_fname != NULL)
    {
      g_autofree char *real = realpath (info.dli_fname, NULL);
      g_autofree char *dir = g_path_get_dirname (real != NULL ? real : info.dli_fname);

      add_bind_dir (dirs, dir);
    }

  for (guint i = 0; sandbox_path_env[i] != NULL; i++)
    {
      const char *value = g_getenv (sandbox_path_env[i]);
      g_auto(GStrv) parts = value != NULL ? g_strsplit (value, ":", -1) : NULL;

      for (guint j = 0; parts != NULL && parts[j] != NULL; j++)
        add_bind_dir (dirs, parts[j]);
    }

  return dirs;
}

#ifdef HAVE_LIBSECCOMP
/* Any thread: a sealed memfd holding the sandbox's seccomp filter as BPF,
 * for `bwrap --seccomp FD`; -1 and @error when it cannot be made. What a
 * computing worker never needs, refused with EPERM (not a kill: a library
 * that tries gets an error it can handle): sockets other than Unix ones,
 * ptrace and its cousins, mount and friends, pushing input into a terminal
 * (TIOCSTI, TIOCLINUX), and new keyrings. */
static int
sandbox_seccomp_fd (GError **error)
{
  static const int denied[] = {
    SCMP_SYS (ptrace), SCMP_SYS (process_vm_readv), SCMP_SYS (process_vm_writev),
    SCMP_SYS (mount), SCMP_SYS (umount2), SCMP_SYS (pivot_root), SCMP_SYS (chroot),
    SCMP_SYS (move_mount), SCMP_SYS (open_tree), SCMP_SYS (fsopen), SCMP_SYS (fsmount),
    SCMP_SYS (fsconfig), SCMP_SYS (fspick), SCMP_SYS (unshare), SCMP_SYS (setns),
    SCMP_SYS (add_key), SCMP_SYS (request_key), SCMP_SYS (keyctl),
    SCMP_SYS (kexec_load), SCMP_SYS (init_module), SCMP_SYS (finit_module),
    SCMP_SYS (delete_module), SCMP_SYS (bpf), SCMP_SYS (perf_event_open),
    SCMP_SYS (userfaultfd),
  };
  scmp_filter_ctx ctx;
  int fd = -1;
  int r = 0;

  ctx = seccomp_init (SCMP_ACT_ALLOW);
  if (ctx == NULL)
    {
      g_set_error (error, ACPU_ERROR, ACPU_ERROR_WORKER_START,
                   "the sandbox's seccomp filter could not be made");
      return -1;
    }

  for (gsize i = 0; i < G_N_ELEMENTS (denied) && r == 0; i++)
    r = seccomp_rule_add (ctx, SCMP_ACT_ERRNO (EPERM), denied[i], 0);
  /* Sockets: Unix ones only (the channel is one). */
  if (r == 0)
    r = seccomp_rule_add (ctx, SCMP_ACT_ERRNO (EAFNOSUPPORT), SCMP_SYS (socket), 1,
                          SCMP_A0 (SCMP_CMP_NE, AF_UNIX));
  if (r == 0)
    r = seccomp_rule_add (ctx, SCMP_ACT_ERRNO (EAFNOSUPPORT), SCMP_SYS (socketpair), 1,
                          SCMP_A0 (SCMP_CMP_NE, AF_UNIX));
  /* Input pushed into a terminal. The ioctl's request is an int: compare
   * its low 32 bits only (CVE-2017-5226, as Flatpak does). */
  if (r == 0)
    r = seccomp_rule_add (ctx, SCMP_ACT_ERRNO (EPERM), SCMP_SYS (ioctl), 1,
                          SCMP_A1 (SCMP_CMP_MASKED_EQ, 0xFFFFFFFFu, (scmp_datum_t) TIOCSTI));
  if (r == 0)
    r = seccomp_rule_add (ctx, SCMP_ACT_ERRNO (EPERM), SCMP_SYS (ioctl), 1,
                          SCMP_A1 (SCMP_CMP_MASKED_EQ, 0xFFFFFFFFu, (scmp_datum_t) TIOCLINUX));
  /* A new user namespace (clone's flag) is what unshare() is refused for. */
  if (r == 0)
    r = seccomp_rule_add (ctx, SCMP_ACT_ERRNO (EPERM), SCMP_SYS (clone), 1,
                          SCMP_A0 (SCMP_CMP_MASKED_EQ, CLONE_NEWUSER, CLONE_NEWUSER));

  /* clone3() hides its flags from the filter: say it does not exist, and
   * glibc falls back to clone() (what Flatpak does). */
  if (r == 0)
    r = seccomp_rule_add (ctx, SCMP_ACT_ERRNO (ENOSYS), SCMP_SYS (clone3), 0);

  if (r == 0)
    {
      fd = memfd_create ("acpu-seccomp", MFD_CLOEXEC | MFD_ALLOW_SEALING);
      if (fd < 0)
        r = -errno;
    }
  if (r == 0)
    r = seccomp_export_bpf (ctx, fd);
  if (r == 0 && lseek (fd, 0, SEEK_SET) < 0)
    r = -errno;
  seccomp_release (ctx);

  if (r != 0)
    {
      if (fd >= 0)
        close (fd);
      g_set_error (error, ACPU_ERROR, ACPU_ERROR_WORKER_START,
                   "the sandbox's seccomp filter could not be made: %s", g_strerror (-r));
      return -1;
    }
  fcntl (fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL);
  return fd;
}
#endif

/* Any thread, no lock: whether the workers this process starts are sure to
 * have no controlling terminal: it has none (ENXIO), or it has one that it
 * can open, which the child setup (acpu-worker-proc.c) opens to let go of
 * it (TIOCNOTTY). A worker that leads no session can never get one back, so it
 * cannot push input into the user's terminal (TIOCSTI), and bwrap's
 * --new-session is not needed for that. It has a price: a session of its
 * own is a scheduling group (autogroup) of its own, which weighs as much as
 * the whole application, and the pool's worker-priority would count only
 * inside it. When this cannot be told (any other error), bwrap makes the
 * session anyway. */
static gboolean
workers_lose_terminal (void)
{
  int fd = open ("/dev/tty", O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);

  if (fd >= 0)
    {
      close (fd);
      return TRUE;
    }
  return errno == ENXIO;
}

/* Any thread: `bwrap …` (or `flatpak-spawn --sandbox …` inside Flatpak) for
 * @worker_argv. */
static gboolean
sandbox_argv (GStrvBuilder        *out,
              const char * const  *worker_argv,
              const char * const  *worker_env,
              int                 *extra_fd,
              GError             **error)
{
  static const char * const merged[] = { "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", NULL };
  static const char * const etc_files[] = {
    "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives",
    "/etc/localtime", "/etc/fonts", "/etc/passwd", "/etc/group", "/etc/nsswitch.conf", NULL
  };
  g_autoptr(GPtrArray) dirs = sandbox_bind_dirs (worker_argv);
  g_autofree char *bwrap = NULL;
  const char *home = g_get_home_dir ();

  *extra_fd = -1;

  if (g_file_test ("/.flatpak-info", G_FILE_TEST_EXISTS))
    {
      g_autofree char *spawn = g_find_program_in_path ("flatpak-spawn");

      if (spawn == NULL)
        {
          g_set_error (error, ACPU_ERROR, ACPU_ERROR_WORKER_START,
                       "this application runs inside Flatpak, and flatpak-spawn is not there "
                       "to start a sandboxed worker");
          return FALSE;
        }
      g_strv_builder_add_many (out, spawn, "--sandbox", "--no-network", "--clear-env",
                               "--watch-bus", NULL);
      for (guint i = 0; worker_env[i] != NULL; i++)
        builder_take (out, g_strdup_printf ("--env=%s", worker_env[i]));
      for (guint i = 0; sandbox_passed_env[i] != NULL; i++)
        if (g_getenv (sandbox_passed_env[i]) != NULL)
          builder_take (out, g_strdup_printf ("--env=%s=%s", sandbox_passed_env[i],
                                                     g_getenv (sandbox_passed_env[i])));
      for (guint i = 0; i < dirs->len; i++)
        builder_take (out, g_strdup_printf ("--sandbox-expose-path-ro=%s",
                                                   (char *) dirs->pdata[i]));
      return TRUE;
    }

  bwrap = g_find_program_in_path ("bwrap");
  if (bwrap == NULL)
    {
      g_set_error (error, ACPU_ERROR, ACPU_ERROR_WORKER_START,
                   "bubblewrap (bwrap) is not installed, and a worker is never run "
                   "outside the sandbox it was asked to run in");
      return FALSE;
    }

  /* --unshare-all is every namespace bwrap knows, the user one included
   * (--unshare-user-try). Root needs no user namespace to make the others,
   * and asking for one fails where root may not make it (a chroot, some
   * containers), so as root the same list goes without it. */
  if (geteuid () == 0)
    g_strv_builder_add_many (out, bwrap, "--unshare-ipc", "--unshare-pid", "--unshare-net",
                             "--unshare-uts", "--unshare-cgroup-try", NULL);
  else
    g_strv_builder_add_many (out, bwrap, "--unshare-all", NULL);
  g_strv_builder_add_many (out, "--die-with-parent", NULL);
  if (!workers_lose_terminal ())
    g_strv_builder_add (out, "--new-session");
  g_strv_builder_add_many (out, "--clearenv", "--setenv", "PATH", "/usr/local/bin:/usr/bin:/bin",
                           "--setenv", "HOME", home, NULL);
  for (guint i = 0; worker_env[i] != NULL; i++)
    {
      g_auto(GStrv) pair = g_strsplit (worker_env[i], "=", 2);

      g_strv_builder_add_many (out, "--setenv", pair[0], pair[1] ? pair[1] : "", NULL);
    }
  for (guint i = 0; sandbox_passed_env[i] != NULL; i++)
    if (g_getenv (sandbox_passed_env[i]) != NULL)
      g_strv_builder_add_many (out, "--setenv", sandbox_passed_env[i],
                               g_getenv (sandbox_passed_env[i]), NULL);

  g_strv_builder_add_many (out, "--ro-bind", "/usr", "/usr", NULL);
  for (guint i = 0; merged[i] != NULL; i++)
    {
      g_autofree char *target = g_file_read_link (merged[i], NULL);

      if (target != NULL)
        g_strv_builder_add_many (out, "--symlink", target, merged[i], NULL);
      else if (g_file_test (merged[i], G_FILE_TEST_IS_DIR))
        g_strv_builder_add_many (out, "--ro-bind", merged[i], merged[i], NULL);
    }
  for (guint i = 0; etc_files[i] != NULL; i++)
    g_strv_builder_add_many (out, "--ro-bind-try", etc_files[i], etc_files[i], NULL);
  g_strv_builder_add_many (out, "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", NULL);
  if (home != NULL && g_path_is_absolute (home) && strcmp (home, "/") != 0 &&
      strcmp (home, "/tmp") != 0)
    g_strv_builder_add_many (out, "--tmpfs", home, NULL);
  /* After the tmpfs: the worker's own files may be under the home. */
  for (guint i = 0; i < dirs->len; i++)
    g_strv_builder_add_many (out, "--ro-bind", dirs->pdata[i], dirs->pdata[i], NULL);
  g_strv_builder_add_many (out, "--chdir", "/", NULL);

#ifdef HAVE_LIBSECCOMP
  *extra_fd = sandbox_seccomp_fd (error);
  if (*extra_fd < 0)
    return FALSE;
  g_strv_builder_add_many (out, "--seccomp", "3", NULL);
#endif

  g_strv_builder_add (out, "--");
  return TRUE;
}

/* Any thread, frozen: see acpu-launcher-private.h. */
char **
acpu_launcher_build_argv (ACpuLauncher        *self,
                          const char * const  *worker_argv,
                          const char * const  *worker_env,
                          int                 *extra_fd,
                          GError             **error)
{
  g_autoptr(GStrvBuilder) out = g_strv_builder_new ();
  g_autoptr(GStrvBuilder) command = g_strv_builder_new ();
  g_auto(GStrv) command_argv = NULL;

  g_return_val_if_fail (g_atomic_int_get (&self->frozen), NULL);

  *extra_fd = -1;

  if (self->kind == LAUNCHER_SANDBOX)
    {
      if (!sandbox_argv (out, worker_argv, worker_env, extra_fd, error))
        return NULL;
    }
  else
    g_strv_builder_addv (out, (const char **) self->prefix);

  /* The worker's environment, where the launcher does not carry ours. */
  if (self->remote || self->quote_argv)
    {
      g_strv_builder_add (command, "env");
      g_strv_builder_addv (command, (const char **) worker_env);
    }
  for (guint i = 0; worker_argv[i] != NULL; i++)
    builder_take (command, i == 0 ? resolve_program (worker_argv[0])
                                         : g_strdup (worker_argv[i]));
  command_argv = g_strv_builder_end (command);

  if (self->quote_argv)
    {
      /* One POSIX shell command; `exec`, so that the worker's parent is the
       * remote session itself, whose end the worker sees. */
      GString *line = g_string_new ("exec");

      for (guint i = 0; command_argv[i] != NULL; i++)
        {
          g_autofree char *quoted = g_shell_quote (command_argv[i]);

          g_string_append_c (line, ' ');
          g_string_append (line, quoted);
        }
      builder_take (out, g_string_free (line, FALSE));
    }
  else
    g_strv_builder_addv (out, (const char **) command_argv);

  return g_strv_builder_end (out);
}
