/* acpu-pool-job.c
 *
 * Copyright 2026 The asynccpu-glib authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

/* A job: one task's life inside the pool, from run_async() until its GTask
 * is returned and the worker is done with it. The states and who may move a
 * job between them are drawn in acpu-pool-private.h; every change goes
 * through acpu_job_set_state(), which checks it is one of those. A job is
 * guarded by whatever guards the list it is on, so these functions take no
 * lock of their own. */

#include "config.h"

#include "acpu-pool-private.h"
#include "acpu-task-private.h"

/* Any thread, on a job only it can see yet: a NEW job for @name. @args is
 * sunk; NULL means `()`. */
ACpuJob *
acpu_job_new (const char *name,
              GVariant   *args)
{
  ACpuJob *job = g_new0 (ACpuJob, 1);

  job->link.data = job;
  job->name = g_strdup (name);
  job->args = g_variant_ref_sink (args != NULL ? args : g_variant_new ("()"));
  job->state = ACPU_JOB_NEW;
  job->priority = G_PRIORITY_DEFAULT;
  return job;
}

/* Any thread: a state's name, for messages. */
const char *
acpu_job_state_to_string (ACpuJobState state)
{
  static const char * const names[] = {
    [ACPU_JOB_NEW] = "new",
    [ACPU_JOB_INCOMING] = "incoming",
    [ACPU_JOB_DIRECT] = "direct",
    [ACPU_JOB_QUEUED] = "queued",
    [ACPU_JOB_RUNNING] = "running",
    [ACPU_JOB_ABANDONED] = "abandoned",
    [ACPU_JOB_DONE] = "done",
  };

  return (guint) state < G_N_ELEMENTS (names) ? names[state] : "invalid";
}

/* Whether a job may go from @from to @to: the arrows of the drawing in
 * acpu-pool-private.h, and nothing else. */
static gboolean
acpu_job_transition_is_legal (ACpuJobState from,
                              ACpuJobState to)
{
#define BIT(s) (1u << (s))
  static const guint legal[] = {
    [ACPU_JOB_NEW] = BIT (ACPU_JOB_INCOMING) | BIT (ACPU_JOB_DIRECT) | BIT (ACPU_JOB_DONE),
    [ACPU_JOB_INCOMING] = BIT (ACPU_JOB_QUEUED) | BIT (ACPU_JOB_DONE),
    [ACPU_JOB_DIRECT] = BIT (ACPU_JOB_RUNNING) | BIT (ACPU_JOB_DONE),
    [ACPU_JOB_QUEUED] = BIT (ACPU_JOB_RUNNING) | BIT (ACPU_JOB_DONE),
    [ACPU_JOB_RUNNING] = BIT (ACPU_JOB_QUEUED) | BIT (ACPU_JOB_ABANDONED) | BIT (ACPU_JOB_DONE),
    [ACPU_JOB_ABANDONED] = BIT (ACPU_JOB_DONE),
    [ACPU_JOB_DONE] = 0,
  };
#undef BIT

  return (guint) from < G_N_ELEMENTS (legal) && (guint) to < 32 &&
         (legal[from] & (1u << to)) != 0;
}

/* Any thread, under what guards the job's list (the lock for INCOMING and
 * DIRECT, the I/O thread for the rest): moves @job to @state. The caller
 * moves the job between lists itself, next to this call. With checks on,
 * an arrow that is not in the drawing aborts, naming both states. */
void
acpu_job_set_state (ACpuJob      *job,
                    ACpuJobState  state)
{
#ifdef ACPU_ENABLE_CHECKS
  if (!acpu_job_transition_is_legal (job->state, state))
    g_error ("Job %" G_GUINT64_FORMAT " (“%s”) cannot go from %s to %s", job->id, job->name,
             acpu_job_state_to_string (job->state), acpu_job_state_to_string (state));
  /* A job whose GTask is returned is ABANDONED or DONE, and only such. */
  if (state == ACPU_JOB_ABANDONED)
    g_assert (job->task == NULL);
#else
  (void) acpu_job_transition_is_legal;
#endif
  job->state = state;
}

/* [io], or the thread that alone holds @job: frees a job on no list whose
 * GTask is returned (or never was made), moving it to DONE first. */
void
acpu_job_free (ACpuJob *job)
{
  g_assert (job->task == NULL);
  g_assert (job->cancel_source == NULL);
  g_assert (job->timeout_source == NULL);

  if (job->state != ACPU_JOB_DONE)
    acpu_job_set_state (job, ACPU_JOB_DONE);
  g_free (job->name);
  g_variant_unref (job->args);
  g_clear_pointer (&job->feed, acpu_task_feed_unref);
  g_free (job);
}

/* Under what guards @jobs: the job with @id in it (a worker's in-flight list,
 * or core->sent), or NULL. */
ACpuJob *
acpu_job_find (GQueue  *jobs,
               guint64  id)
{
  for (GList *l = jobs->head; l != NULL; l = l->next)
    if (((ACpuJob *) l->data)->id == id)
      return l->data;
  return NULL;
}
