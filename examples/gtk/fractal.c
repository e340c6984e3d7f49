/* fractal.c — a GTK 4 application whose fractal is computed by a pool of
 * worker processes.
 *
 * Usage: fractal [--test-mode]
 *
 * The image is split into tiles; each tile is one task ("tile", in
 * fractal-worker) with its own row: a progress bar bound to the task
 * handle's progress, and its state; the tile's rows appear in the image as
 * the worker streams them (partial values). Cancel
 * cancels every tile at once; "Kill a worker" sends SIGKILL to a busy
 * worker: that tile fails, with the signal shown, and can be retried, while
 * the others go on. The worker list is a GtkColumnView over the pool's
 * worker model, and a line of statistics is refreshed four times a second.
 *
 * The UI comes first: the workers run with worker-priority "idle", so the
 * thread that draws frames wins the CPU; they are started at once
 * (min-workers), from a program of their own that does not load GTK.
 *
 * --test-mode drives the window by activating its buttons, checks the
 * widgets' state after each step, saves a screenshot (gtk-demo.png, in the
 * current directory, or $ACPU_GTK_SCREENSHOT), prints the frame clock's
 * lateness and where the late frames' time went (the main thread on a CPU,
 * or waiting for one), and exits with 0 when every check passed.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#define _GNU_SOURCE               /* sigabbrev_np() */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <asynccpu-glib.h>
#include <gtk/gtk.h>

#define TILES      4                    /* a side */
#define N_TILES    (TILES * TILES)
#define TILE_SIZE  96
#define IMAGE_SIZE (TILES * TILE_SIZE)
#define MAX_ITER   600
#define SAMPLES    3

typedef struct _Demo Demo;

typedef enum
{
  TILE_IDLE,
  TILE_QUEUED,
  TILE_DONE,
  TILE_FAILED,
  TILE_CANCELLED,
} TileState;

typedef struct
{
  Demo           *demo;
  guint           index;
  TileState       state;
  guint           generation;   /* of the request whose answer counts */
  GtkProgressBar *bar;
  GtkLabel       *label;
  GError         *error;
  ACpuTask       *task;         /* the latest request's handle */
  GBinding       *progress;     /* its progress → the bar, while it runs */
} Tile;

/* One request for a tile: an answer to an older one is ignored. */
typedef struct
{
  Tile  *tile;
  guint  generation;
} Request;

struct _Demo
{
  GtkApplication      *app;
  GtkWindow           *window;
  ACpuProcessTaskPool *pool;
  GListModel          *workers;
  Tile                 tiles[N_TILES];
  guint8              *pixels;    /* IMAGE_SIZE², RGB */
  GtkPicture          *picture;
  GtkLabel            *stats;
  GtkWidget           *start, *cancel, *kill, *retry;
  GtkSpinner          *spinner;   /* spins while tiles are queued or running */
  /* The frame clock: lateness of each frame after the first, in µs. */
  GArray              *lateness;
  gint64               last_frame;
  /* Where the late frames' time went: see after_paint_cb (). */
  int                  schedstat;  /* /proc/thread-self/schedstat, or -1 */
  gint64               last_run, last_wait;  /* the main thread's, in µs */
  gint64               paint_start;  /* this frame's before-paint */
  gint64               app_us;       /* in our handlers since the last frame */
  gint64               late_n, late_us, late_wait_us, late_run_us, late_paint_us, late_app_us;
  /* --test-mode */
  gboolean             test_mode;
  guint                stage;
  guint                failures;
  gboolean             clicking;  /* a button was activated, its "clicked" is to come */
  gboolean             dirty;     /* rows came in: the picture is redone next frame */
  GdkPaintable        *shot;      /* the window's content, kept current by GTK */
  gint64               shot_wait; /* since when the screenshot waits for the worker rows */
  gboolean             saving;    /* the PNG is being written, in a thread */
  GPid                 killed;
  gint64               round_start; /* when the first round was started */
  guint                samples;     /* per pixel side; more after the first round in test mode */
};

/* Counts the time the application's own handlers take, for the frame
 * profile of --test-mode. */
#define APP_BEGIN(demo) gint64 app_t0_ = g_get_monotonic_time ()
#define APP_END(demo)   ((demo)->app_us += g_get_monotonic_time () - app_t0_)

/* The tiles --------------------------------------------------------------- */

static const char *
tile_state_name (TileState state)
{
  static const char * const names[] = { "idle", "queued", "done", "failed", "cancelled" };
  return names[state];
}

/* The spinner says "working" while the workers start or a tile is queued
 * or running, and nothing once all is done. It spins from the first
 * frame, which loads its icon: loading it later would stall a frame. */
static void
demo_update_spinner (Demo *demo)
{
  gboolean busy = demo->workers != NULL &&
                  g_list_model_get_n_items (demo->workers) < acpu_process_task_pool_get_min_workers (demo->pool);

  for (guint i = 0; i < N_TILES && !busy; i++)
    busy = demo->tiles[i].state == TILE_QUEUED;
  for (guint i = 0; demo->workers != NULL && i < g_list_model_get_n_items (demo->workers) && !busy; i++)
    {
      g_autoptr(ACpuWorkerInfo) info = g_list_model_get_item (demo->workers, i);

      busy = acpu_worker_info_get_state (info) == ACPU_WORKER_STATE_STARTING;
    }
  if (demo->spinner != NULL)
    gtk_spinner_set_spinning (demo->spinner, busy);
}

static void
tile_show (Tile       *tile,
           TileState   state,
           const char *text)
{
  g_autofree char *line = NULL;

  tile->state = state;
  if (state == TILE_DONE || state == TILE_IDLE || state == TILE_QUEUED)
    gtk_progress_bar_set_fraction (tile->bar, state == TILE_DONE ? 1.0 : 0.0);
  line = g_strdup_printf ("Tile %2u: %s", tile->index + 1, text != NULL ? text : tile_state_name (state));
  gtk_label_set_text (tile->label, line);
  demo_update_spinner (tile->demo);
}

static void
demo_update_picture (Demo *demo)
{
  g_autoptr(GBytes) bytes = g_bytes_new (demo->pixels, IMAGE_SIZE * IMAGE_SIZE * 3);
  g_autoptr(GdkTexture) texture = gdk_memory_texture_new (IMAGE_SIZE, IMAGE_SIZE,
                                                          GDK_MEMORY_R8G8B8, bytes,
                                                          IMAGE_SIZE * 3);

  gtk_picture_set_paintable (demo->picture, GDK_PAINTABLE (texture));
}

/* Copies @n_rows rows of pixels, from row @first of @tile, into the image. */
static void
tile_copy_rows (Tile         *tile,
                guint         first,
                guint         n_rows,
                const guint8 *data)
{
  Demo *demo = tile->demo;
  guint x0 = (tile->index % TILES) * TILE_SIZE, y0 = (tile->index / TILES) * TILE_SIZE;

  for (guint row = 0; row < n_rows && first + row < TILE_SIZE; row++)
    memcpy (demo->pixels + ((gsize) (y0 + first + row) * IMAGE_SIZE + x0) * 3,
            data + (gsize) row * TILE_SIZE * 3, TILE_SIZE * 3);
}

/* A partial value: rows of the tile, streamed while it is computed. */
static void
tile_rows_cb (ACpuTask *task,
              GVariant *value,
              Request  *request)
{
  Tile *tile = request->tile;
  g_autoptr(GVariant) rows = NULL;
  const guint8 *data;
  gsize n = 0;
  guint32 first;
  APP_BEGIN (tile->demo);

  if (request->generation != tile->generation ||
      !g_variant_is_of_type (value, G_VARIANT_TYPE ("(uay)")))
    return;
  g_variant_get (value, "(u@ay)", &first, &rows);
  data = g_variant_get_fixed_array (rows, &n, 1);
  tile_copy_rows (tile, first, n / (TILE_SIZE * 3), data);
  /* Once per frame, however many rows came. */
  tile->demo->dirty = TRUE;
  APP_END (tile->demo);
}

static void
tile_done_cb (GObject      *object,
              GAsyncResult *result,
              gpointer      user_data)
{
  ACpuTask *task = ACPU_TASK (object);
  g_autofree Request *request = user_data;
  Tile *tile = request->tile;
  Demo *demo = tile->demo;
  g_autoptr(GVariant) value = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(ACpuWorkerExit) exit = acpu_task_get_worker_exit (task);
  APP_BEGIN (demo);

  value = acpu_task_wait_finish (task, result, &error);
  g_signal_handlers_disconnect_by_data (task, request);
  if (request->generation != tile->generation)
    return;

  /* The bar keeps what the task reached; done is full. */
  g_clear_pointer (&tile->progress, g_binding_unbind);
  g_clear_error (&tile->error);
  if (value != NULL)
    {
      gsize n = 0;
      const guint8 *data = g_variant_get_fixed_array (value, &n, 1);

      if (n == TILE_SIZE * TILE_SIZE * 3)
        tile_copy_rows (tile, 0, TILE_SIZE, data);
      demo_update_picture (demo);
      tile_show (tile, TILE_DONE, NULL);
    }
  else if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      tile_show (tile, TILE_CANCELLED, NULL);
      tile->error = g_steal_pointer (&error);
    }
  else
    {
      g_autofree char *text = NULL;

      if (exit != NULL && acpu_worker_exit_get_signal (exit) != 0)
        text = g_strdup_printf ("failed: worker %d killed by signal %d (SIG%s)",
                                (int) acpu_worker_exit_get_pid (exit),
                                acpu_worker_exit_get_signal (exit),
                                sigabbrev_np (acpu_worker_exit_get_signal (exit)));
      else
        text = g_strdup_printf ("failed: %s", error->message);
      tile_show (tile, TILE_FAILED, text);
      tile->error = g_steal_pointer (&error);
    }
  APP_END (demo);
}

static void
tile_submit (Tile *tile)
{
  Demo *demo = tile->demo;
  Request *request = g_new0 (Request, 1);

  request->tile = tile;
  request->generation = ++tile->generation;
  g_clear_error (&tile->error);
  g_clear_pointer (&tile->progress, g_binding_unbind);
  g_clear_object (&tile->task);
  tile_show (tile, TILE_QUEUED, NULL);
  tile->task = acpu_process_task_pool_start (demo->pool, "tile",
                                             g_variant_new ("(uuuuuu)",
                                                            (tile->index % TILES) * TILE_SIZE,
                                                            (tile->index / TILES) * TILE_SIZE,
                                                            TILE_SIZE, IMAGE_SIZE, MAX_ITER,
                                                            demo->samples),
                                             G_PRIORITY_DEFAULT, NULL);
  /* The bar follows the task; the binding goes when the task does. */
  tile->progress = g_object_bind_property (tile->task, "progress", tile->bar, "fraction",
                                           G_BINDING_DEFAULT);
  g_signal_connect (tile->task, "partial-value", G_CALLBACK (tile_rows_cb), request);
  acpu_task_wait_async (tile->task, NULL, tile_done_cb, request);
}

/* The buttons --------------------------------------------------------------- */

static void
start_clicked_cb (GtkButton *button,
                  Demo      *demo)
{
  demo->clicking = FALSE;
  memset (demo->pixels, 0x20, IMAGE_SIZE * IMAGE_SIZE * 3);
  demo_update_picture (demo);
  for (guint i = 0; i < N_TILES; i++)
    tile_submit (&demo->tiles[i]);
}

static void
cancel_clicked_cb (GtkButton *button,
                   Demo      *demo)
{
  demo->clicking = FALSE;
  acpu_process_task_pool_cancel_all (demo->pool);
}

/* Kills the first busy worker of the worker model. */
static void
kill_clicked_cb (GtkButton *button,
                 Demo      *demo)
{
  demo->clicking = FALSE;
  for (guint i = 0; i < g_list_model_get_n_items (demo->workers); i++)
    {
      g_autoptr(ACpuWorkerInfo) info = g_list_model_get_item (demo->workers, i);

      if (acpu_worker_info_get_state (info) == ACPU_WORKER_STATE_BUSY)
        {
          demo->killed = acpu_worker_info_get_pid (info);
          kill (demo->killed, SIGKILL);
          return;
        }
    }
}

static void
retry_clicked_cb (GtkButton *button,
                  Demo      *demo)
{
  demo->clicking = FALSE;
  for (guint i = 0; i < N_TILES; i++)
    if (demo->tiles[i].state == TILE_FAILED || demo->tiles[i].state == TILE_CANCELLED)
      tile_submit (&demo->tiles[i]);
}

/* Statistics -------------------------------------------------------------------- */

static gboolean
stats_refresh_cb (gpointer user_data)
{
  Demo *demo = user_data;
  APP_BEGIN (demo);
  g_autoptr(ACpuPoolStats) stats = acpu_process_task_pool_get_stats (demo->pool);
  g_autofree char *text = NULL;

  text = g_strdup_printf ("%" G_GUINT64_FORMAT " submitted · %" G_GUINT64_FORMAT " done · %"
                          G_GUINT64_FORMAT " failed · %" G_GUINT64_FORMAT " cancelled · "
                          "%u queued · %u running\n%u workers (%" G_GUINT64_FORMAT " started, %"
                          G_GUINT64_FORMAT " died) · run p50 %.0f ms, p99 %.0f ms · wait p99 "
                          "%.0f ms · busy %.0f %%",
                          acpu_pool_stats_get_submitted (stats),
                          acpu_pool_stats_get_succeeded (stats),
                          acpu_pool_stats_get_failed (stats),
                          acpu_pool_stats_get_cancelled (stats),
                          acpu_pool_stats_get_n_queued (stats),
                          acpu_pool_stats_get_n_running (stats),
                          acpu_pool_stats_get_n_workers (stats),
                          acpu_pool_stats_get_worker_starts (stats),
                          acpu_pool_stats_get_worker_deaths (stats),
                          acpu_pool_stats_get_run_time (stats, 50) * 1000,
                          acpu_pool_stats_get_run_time (stats, 99) * 1000,
                          acpu_pool_stats_get_wait_time (stats, 99) * 1000,
                          acpu_pool_stats_get_utilization (stats) * 100);
  gtk_label_set_text (demo->stats, text);
  demo_update_spinner (demo);
  APP_END (demo);
  return G_SOURCE_CONTINUE;
}

/* The worker list ---------------------------------------------------------------- */

static gboolean
transform_to_string (GBinding     *binding,
                     const GValue *from,
                     GValue       *to,
                     gpointer      user_data)
{
  const char *prop = user_data;

  if (g_str_equal (prop, "state"))
    {
      static const char * const states[] = { "starting", "idle", "busy", "closing" };
      g_value_set_string (to, states[g_value_get_enum (from)]);
    }
  else if (g_str_equal (prop, "cpu-time"))
    g_value_take_string (to, g_strdup_printf ("%.2f s", g_value_get_double (from)));
  else if (g_str_equal (prop, "rss"))
    g_value_take_string (to, g_format_size (g_value_get_uint64 (from)));
  else if (g_str_equal (prop, "task-name"))
    g_value_set_string (to, g_value_get_string (from) != NULL ? g_value_get_string (from) : "—");
  else
    {
      g_auto(GValue) str = G_VALUE_INIT;

      g_value_init (&str, G_TYPE_STRING);
      g_value_transform (from, &str);
      g_value_copy (&str, to);
    }
  return TRUE;
}

static void
column_setup_cb (GtkSignalListItemFactory *factory,
                 GtkListItem              *item,
                 gpointer                  user_data)
{
  GtkWidget *label = gtk_label_new (NULL);

  gtk_label_set_xalign (GTK_LABEL (label), 0);
  gtk_list_item_set_child (item, label);
}

static void
column_bind_cb (GtkSignalListItemFactory *factory,
                GtkListItem              *item,
                gpointer                  user_data)
{
  GBinding *binding = g_object_bind_property_full (gtk_list_item_get_item (item), user_data,
                                                   gtk_list_item_get_child (item), "label",
                                                   G_BINDING_SYNC_CREATE, transform_to_string,
                                                   NULL, user_data, NULL);

  g_object_set_data (G_OBJECT (item), "binding", binding);
}

static void
column_unbind_cb (GtkSignalListItemFactory *factory,
                  GtkListItem              *item,
                  gpointer                  user_data)
{
  g_binding_unbind (g_object_get_data (G_OBJECT (item), "binding"));
}

static GtkWidget *
workers_view_new (Demo *demo)
{
  static const char * const props[] = { "pid", "state", "task-name", "tasks-done", "cpu-time", "rss" };
  static const char * const titles[] = { "PID", "State", "Task", "Done", "CPU", "RSS" };
  GtkNoSelection *selection = gtk_no_selection_new (g_object_ref (demo->workers));
  GtkWidget *view = gtk_column_view_new (GTK_SELECTION_MODEL (selection));

  for (guint i = 0; i < G_N_ELEMENTS (props); i++)
    {
      GtkListItemFactory *factory = gtk_signal_list_item_factory_new ();
      GtkColumnViewColumn *column;

      g_signal_connect (factory, "setup", G_CALLBACK (column_setup_cb), NULL);
      g_signal_connect (factory, "bind", G_CALLBACK (column_bind_cb), (gpointer) props[i]);
      g_signal_connect (factory, "unbind", G_CALLBACK (column_unbind_cb), NULL);
      column = gtk_column_view_column_new (titles[i], factory);
      gtk_column_view_column_set_expand (column, TRUE);
      gtk_column_view_append_column (GTK_COLUMN_VIEW (view), column);
      g_object_unref (column);
    }
  return view;
}

/* The frame clock ---------------------------------------------------------------- */

/* Makes the picture anew when rows came in, once per frame. In --test-mode
 * it also keeps frames coming, as an animation does, so each frame's
 * lateness is measured; an application at rest draws nothing. */
static gboolean
tick_cb (GtkWidget     *widget,
         GdkFrameClock *clock,
         gpointer       user_data)
{
  Demo *demo = user_data;

  if (demo->dirty)
    {
      APP_BEGIN (demo);

      demo->dirty = FALSE;
      demo_update_picture (demo);
      APP_END (demo);
    }
  if (demo->test_mode)
    gtk_widget_queue_draw (widget);
  return G_SOURCE_CONTINUE;
}

/* The main thread's time on a CPU and waiting for one (in the run queue),
 * in µs, from the scheduler's own accounting. */
static gboolean
read_schedstat (Demo   *demo,
                gint64 *run,
                gint64 *wait)
{
  char buf[128];
  ssize_t n;
  guint64 r = 0, w = 0;

  if (demo->schedstat < 0 ||
      (n = pread (demo->schedstat, buf, sizeof buf - 1, 0)) <= 0)
    return FALSE;
  buf[n] = '\0';
  if (sscanf (buf, "%" G_GUINT64_FORMAT " %" G_GUINT64_FORMAT, &r, &w) != 2)
    return FALSE;
  *run = (gint64) (r / 1000);
  *wait = (gint64) (w / 1000);
  return TRUE;
}

static void
before_paint_cb (GdkFrameClock *clock,
                 Demo          *demo)
{
  demo->paint_start = g_get_monotonic_time ();
}

/* Each frame's lateness: how long after the previous frame it ended,
 * beyond one refresh interval. For a frame more than one interval late it
 * also adds up where the time went: the main thread on a CPU (our
 * handlers, GTK's layout and painting), or runnable but waiting for a CPU
 * (other programs had it: the workers run at SCHED_IDLE, so not them), or
 * neither (blocked on the X server). */
static void
after_paint_cb (GdkFrameClock *clock,
                Demo          *demo)
{
  gint64 now = g_get_monotonic_time ();
  gint64 refresh = 0, presentation = 0, run = 0, wait = 0;
  gboolean have_sched = read_schedstat (demo, &run, &wait);

  gdk_frame_clock_get_refresh_info (clock, now, &refresh, &presentation);
  if (refresh <= 0)
    refresh = G_USEC_PER_SEC / 60;
  if (demo->last_frame != 0)
    {
      gint64 late = MAX (0, now - demo->last_frame - refresh);

      g_array_append_val (demo->lateness, late);
      /* A late frame: where did its interval go? */
      if (late > G_USEC_PER_SEC / 60 && have_sched)
        {
          demo->late_n++;
          demo->late_us += late;
          demo->late_run_us += run - demo->last_run;
          demo->late_wait_us += wait - demo->last_wait;
          demo->late_paint_us += now - demo->paint_start;
          demo->late_app_us += demo->app_us;
        }
    }
  demo->last_frame = now;
  demo->last_run = run;
  demo->last_wait = wait;
  demo->app_us = 0;
}

static void
window_realize_cb (GtkWidget *window,
                   Demo      *demo)
{
  g_signal_connect (gtk_widget_get_frame_clock (window), "before-paint",
                    G_CALLBACK (before_paint_cb), demo);
  g_signal_connect (gtk_widget_get_frame_clock (window), "after-paint",
                    G_CALLBACK (after_paint_cb), demo);
}

static int
compare_int64 (gconstpointer a,
               gconstpointer b)
{
  gint64 x = *(const gint64 *) a, y = *(const gint64 *) b;

  return x < y ? -1 : x > y;
}

static void
print_frame_stats (Demo *demo)
{
  GArray *l = demo->lateness;
  guint p99;

  if (l->len == 0)
    {
      g_print ("frames: none measured\n");
      return;
    }
  g_array_sort (l, compare_int64);
  p99 = MIN (l->len - 1, (guint) (l->len * 0.99));
  g_print ("frames: %u; lateness p50 %.1f ms, p99 %.1f ms, max %.1f ms "
           "(targets: p99 <= 16.7, max <= 50)\n",
           l->len, g_array_index (l, gint64, l->len / 2) / 1000.0,
           g_array_index (l, gint64, p99) / 1000.0, g_array_index (l, gint64, l->len - 1) / 1000.0);
  if (demo->late_n > 0)
    g_print ("late frames (> 16.7 ms late): %" G_GINT64_FORMAT ", each on average %.1f ms late; "
             "in its interval the main thread was on a CPU %.1f ms (%.1f in the demo's handlers) "
             "and waited for one %.1f ms; painting took %.1f ms\n",
             demo->late_n, demo->late_us / 1000.0 / demo->late_n,
             demo->late_run_us / 1000.0 / demo->late_n, demo->late_app_us / 1000.0 / demo->late_n,
             demo->late_wait_us / 1000.0 / demo->late_n, demo->late_paint_us / 1000.0 / demo->late_n);
}

/* --test-mode --------------------------------------------------------------------- */

#define CHECK(cond, ...)                                       \
  G_STMT_START {                                               \
    if (!(cond))                                               \
      {                                                        \
        g_printerr ("FAILED: %s: ", #cond);                    \
        g_printerr (__VA_ARGS__);                              \
        g_printerr ("\n");                                     \
        demo->failures++;                                      \
      }                                                        \
  } G_STMT_END

static guint
count_tiles (Demo      *demo,
             TileState  state)
{
  guint n = 0;

  for (guint i = 0; i < N_TILES; i++)
    n += demo->tiles[i].state == state;
  return n;
}

static gboolean
all_final (Demo *demo)
{
  return count_tiles (demo, TILE_QUEUED) == 0;
}

static guint
count_busy_workers (Demo *demo)
{
  guint n = 0;

  for (guint i = 0; i < g_list_model_get_n_items (demo->workers); i++)
    {
      g_autoptr(ACpuWorkerInfo) info = g_list_model_get_item (demo->workers, i);

      n += acpu_worker_info_get_state (info) == ACPU_WORKER_STATE_BUSY;
    }
  return n;
}

/* The worker rows show figures the pool reads from /proc about once a
 * second: a worker that has done tasks but shows no CPU time yet was read
 * before it ran them. */
static gboolean
worker_rows_current (Demo *demo)
{
  for (guint i = 0; i < g_list_model_get_n_items (demo->workers); i++)
    {
      g_autoptr(ACpuWorkerInfo) info = g_list_model_get_item (demo->workers, i);

      if (acpu_worker_info_get_tasks_done (info) > 0 && acpu_worker_info_get_cpu_time (info) == 0)
        return FALSE;
    }
  return TRUE;
}

/* A screenshot to write out: the rendered window and where. */
typedef struct
{
  GdkTexture *texture;
  char       *path;
} Shot;

static void
shot_free (Shot *shot)
{
  g_object_unref (shot->texture);
  g_free (shot->path);
  g_free (shot);
}

/* [thread]: PNG encoding takes ~50 ms for this window, three frames: not
 * on the thread that draws them. A GdkTexture is immutable, safe to read
 * from any thread. */
static void
save_png_thread (GTask        *task,
                 gpointer      source,
                 gpointer      task_data,
                 GCancellable *cancellable)
{
  Shot *shot = task_data;

  if (gdk_texture_save_to_png (shot->texture, shot->path))
    g_task_return_boolean (task, TRUE);
  else
    g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_FAILED, "could not save %s", shot->path);
}

static void
save_png_done_cb (GObject      *object,
                  GAsyncResult *result,
                  gpointer      user_data)
{
  Demo *demo = user_data;
  Shot *shot = g_task_get_task_data (G_TASK (result));
  g_autoptr(GError) error = NULL;

  demo->saving = FALSE;
  CHECK (g_task_propagate_boolean (G_TASK (result), &error), "%s", error->message);
  if (error == NULL)
    g_print ("screenshot: %s (%dx%d)\n", shot->path, gdk_texture_get_width (shot->texture),
             gdk_texture_get_height (shot->texture));
}

/* Renders the window as it is now (2 ms, here) and writes it out in a
 * thread. */
static void
save_screenshot (Demo *demo)
{
  GtkWidget *widget = gtk_window_get_child (demo->window);
  int width = gtk_widget_get_width (widget), height = gtk_widget_get_height (widget);
  g_autoptr(GtkSnapshot) snapshot = gtk_snapshot_new ();
  g_autoptr(GskRenderNode) node = NULL;
  g_autoptr(GTask) task = NULL;
  const char *path = g_getenv ("ACPU_GTK_SCREENSHOT");
  Shot *shot;

  gdk_paintable_snapshot (demo->shot, GDK_SNAPSHOT (snapshot), width, height);
  node = gtk_snapshot_free_to_node (g_steal_pointer (&snapshot));
  CHECK (node != NULL, "the window rendered nothing");
  if (node == NULL)
    return;
  shot = g_new0 (Shot, 1);
  shot->path = g_strdup (path != NULL ? path : "gtk-demo.png");
  shot->texture = gsk_renderer_render_texture (gtk_native_get_renderer (GTK_NATIVE (demo->window)),
                                               node, &GRAPHENE_RECT_INIT (0, 0, width, height));
  task = g_task_new (NULL, NULL, save_png_done_cb, demo);
  g_task_set_source_tag (task, save_screenshot);
  g_task_set_task_data (task, shot, (GDestroyNotify) shot_free);
  demo->saving = TRUE;
  g_task_run_in_thread (task, save_png_thread);
}

/* After the first round: the script's clicks come a moment after it sees
 * tiles running (a GtkButton emits "clicked" some 250 ms after it is
 * activated), so the rounds in which it kills a worker and cancels must
 * last longer than that on any machine. A round's work grows with the
 * square of the samples per pixel side: enough for about 3 s, as the first
 * round went. */
static void
slow_down (Demo *demo)
{
  double first_s = (g_get_monotonic_time () - demo->round_start) / (double) G_USEC_PER_SEC;

  /* The worker takes at most 16. */
  demo->samples = SAMPLES;
  while (demo->samples < 16 &&
         first_s * demo->samples * demo->samples / (SAMPLES * SAMPLES) < 3.0)
    demo->samples++;
  g_print ("step: the first round took %.2f s; %u samples per pixel side from now on\n",
           first_s, demo->samples);
}

/* Called every 50 ms: one step of the script when its condition holds. */
static gboolean
test_step_cb (gpointer user_data)
{
  Demo *demo = user_data;

  /* A GtkButton emits "clicked" a moment after it is activated. */
  if (demo->clicking)
    return G_SOURCE_CONTINUE;

  switch (demo->stage)
    {
    case 0: /* The workers are pre-started (min-workers). */
      if (g_list_model_get_n_items (demo->workers) < 2 || count_busy_workers (demo) > 0)
        return G_SOURCE_CONTINUE;
      g_print ("step: start\n");
      demo->round_start = g_get_monotonic_time ();
      demo->clicking = TRUE;
      gtk_widget_activate (demo->start);
      break;

    case 1: /* Every tile done, every bar full. */
      if (!all_final (demo))
        return G_SOURCE_CONTINUE;
      CHECK (count_tiles (demo, TILE_DONE) == N_TILES, "%u of %u tiles done",
             count_tiles (demo, TILE_DONE), N_TILES);
      for (guint i = 0; i < N_TILES; i++)
        CHECK (gtk_progress_bar_get_fraction (demo->tiles[i].bar) == 1.0, "tile %u bar at %g", i,
               gtk_progress_bar_get_fraction (demo->tiles[i].bar));
      slow_down (demo);
      g_print ("step: all %u tiles done; start again, and kill a busy worker\n", N_TILES);
      demo->clicking = TRUE;
      gtk_widget_activate (demo->start);
      break;

    case 2: /* Some tiles done, a worker busy: kill it. */
      if (count_tiles (demo, TILE_DONE) < 2 || count_busy_workers (demo) == 0)
        return G_SOURCE_CONTINUE;
      demo->clicking = TRUE;
      gtk_widget_activate (demo->kill);
      break;

    case 3: /* That tile failed with WORKER_DIED, all the others completed. */
      /* The button clicks a moment after it is activated: the busy worker
       * may have finished its tile meanwhile. Try again while tiles run. */
      if (demo->killed == 0 && !all_final (demo))
        {
          if (count_busy_workers (demo) > 0)
            {
              demo->clicking = TRUE;
              gtk_widget_activate (demo->kill);
            }
          return G_SOURCE_CONTINUE;
        }
      if (!all_final (demo))
        return G_SOURCE_CONTINUE;
      CHECK (demo->killed > 0, "no busy worker to kill");
      g_print ("step: killed worker %d\n", (int) demo->killed);
      CHECK (count_tiles (demo, TILE_FAILED) == 1, "%u tiles failed", count_tiles (demo, TILE_FAILED));
      CHECK (count_tiles (demo, TILE_DONE) == N_TILES - 1, "%u tiles done",
             count_tiles (demo, TILE_DONE));
      for (guint i = 0; i < N_TILES; i++)
        if (demo->tiles[i].state == TILE_FAILED)
          {
            CHECK (g_error_matches (demo->tiles[i].error, ACPU_ERROR, ACPU_ERROR_WORKER_DIED),
                   "tile %u: %s", i, demo->tiles[i].error ? demo->tiles[i].error->message : "?");
            CHECK (strstr (gtk_label_get_text (demo->tiles[i].label), "SIGKILL") != NULL,
                   "tile %u says “%s”", i, gtk_label_get_text (demo->tiles[i].label));
            g_print ("step: %s\n", gtk_label_get_text (demo->tiles[i].label));
          }
      stats_refresh_cb (demo);
      break;

    case 4: /* A frame later, the window shows it all: the screenshot, once
             * the worker rows show what the workers did. */
      if (demo->shot_wait == 0)
        demo->shot_wait = g_get_monotonic_time ();
      /* A refresh of the rows after the last tile (1.1 s), and one that
       * shows CPU time for every worker that did tasks (3 s at most). */
      if (g_get_monotonic_time () - demo->shot_wait < 1100 * 1000 ||
          (!worker_rows_current (demo) && g_get_monotonic_time () - demo->shot_wait < 3 * G_USEC_PER_SEC))
        return G_SOURCE_CONTINUE;
      save_screenshot (demo);
      g_print ("step: retry\n");
      demo->clicking = TRUE;
      gtk_widget_activate (demo->retry);
      break;

    case 5:
      if (!all_final (demo))
        return G_SOURCE_CONTINUE;
      CHECK (count_tiles (demo, TILE_DONE) == N_TILES, "%u tiles done after retry",
             count_tiles (demo, TILE_DONE));
      g_print ("step: retried; start again, and cancel\n");
      demo->clicking = TRUE;
      gtk_widget_activate (demo->start);
      break;

    case 6: /* Cancel while tiles run. */
      if (count_busy_workers (demo) == 0 || count_tiles (demo, TILE_DONE) < 1)
        return G_SOURCE_CONTINUE;
      demo->clicking = TRUE;
      gtk_widget_activate (demo->cancel);
      break;

    case 7:
      if (!all_final (demo))
        return G_SOURCE_CONTINUE;
      CHECK (count_tiles (demo, TILE_CANCELLED) >= 1, "no tile cancelled");
      CHECK (count_tiles (demo, TILE_FAILED) == 0, "%u tiles failed", count_tiles (demo, TILE_FAILED));
      CHECK (count_tiles (demo, TILE_CANCELLED) + count_tiles (demo, TILE_DONE) == N_TILES,
             "tiles neither done nor cancelled");
      for (guint i = 0; i < N_TILES; i++)
        if (demo->tiles[i].state == TILE_CANCELLED)
          CHECK (strstr (gtk_label_get_text (demo->tiles[i].label), "cancelled") != NULL,
                 "tile %u says “%s”", i, gtk_label_get_text (demo->tiles[i].label));
      g_print ("step: %u tiles cancelled, %u done\n", count_tiles (demo, TILE_CANCELLED),
               count_tiles (demo, TILE_DONE));
      break;

    case 8: /* The worker rows are the live workers: wait for the cancelled
             * ones to be replaced or gone (and for the screenshot). */
      if (demo->saving)
        return G_SOURCE_CONTINUE;
      {
        guint n = g_list_model_get_n_items (demo->workers);
        gboolean settled = n == acpu_process_task_pool_get_n_workers (demo->pool) && n > 0;

        for (guint i = 0; i < n && settled; i++)
          {
            g_autoptr(ACpuWorkerInfo) info = g_list_model_get_item (demo->workers, i);

            settled = acpu_worker_info_get_state (info) == ACPU_WORKER_STATE_IDLE;
          }
        if (!settled)
          return G_SOURCE_CONTINUE;
        for (guint i = 0; i < n; i++)
          {
            g_autoptr(ACpuWorkerInfo) info = g_list_model_get_item (demo->workers, i);
            GPid pid = acpu_worker_info_get_pid (info);

            CHECK (pid > 0 && kill (pid, 0) == 0, "worker row %u: pid %d is not alive", i, (int) pid);
            CHECK (pid != demo->killed, "the killed worker %d is still listed", (int) pid);
          }
        g_print ("step: %u worker rows, all live processes\n", n);
      }
      print_frame_stats (demo);
      g_print (demo->failures == 0 ? "PASS\n" : "FAIL: %u checks\n", demo->failures);
      g_application_quit (G_APPLICATION (demo->app));
      return G_SOURCE_REMOVE;

    default:
      g_assert_not_reached ();
    }

  demo->stage++;
  return G_SOURCE_CONTINUE;
}

/* The window ---------------------------------------------------------------------- */

static char *
worker_path (void)
{
  g_autofree char *self = g_file_read_link ("/proc/self/exe", NULL);
  g_autofree char *dir = g_path_get_dirname (self != NULL ? self : ".");

  return g_build_filename (dir, "fractal-worker", NULL);
}

static void
activate_cb (GtkApplication *app,
             Demo           *demo)
{
  g_autofree char *worker = worker_path ();
  const char *argv[] = { worker, NULL };
  GtkWidget *window, *paned, *left, *right, *buttons, *tiles, *scroll, *spinner;

  /* The pool first, so its workers start while the window is built. */
  demo->pool = acpu_process_task_pool_new (argv, 2);
  acpu_process_task_pool_set_worker_priority (demo->pool, ACPU_WORKER_PRIORITY_IDLE);
  acpu_process_task_pool_set_min_workers (demo->pool, 2);
  demo->workers = acpu_process_task_pool_get_workers (demo->pool);

  window = gtk_application_window_new (app);
  demo->window = GTK_WINDOW (window);
  gtk_window_set_title (demo->window, "asynccpu-glib: a fractal in worker processes");
  gtk_window_set_default_size (demo->window, 1000, 720);
  g_signal_connect (window, "realize", G_CALLBACK (window_realize_cb), demo);

  paned = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 12);
  gtk_widget_set_margin_start (paned, 12);
  gtk_widget_set_margin_end (paned, 12);
  gtk_widget_set_margin_top (paned, 12);
  gtk_widget_set_margin_bottom (paned, 12);
  gtk_window_set_child (demo->window, paned);

  /* Left: the image, the buttons, the statistics, the workers. */
  left = gtk_box_new (GTK_ORIENTATION_VERTICAL, 8);
  gtk_box_append (GTK_BOX (paned), left);
  demo->pixels = g_malloc (IMAGE_SIZE * IMAGE_SIZE * 3);
  memset (demo->pixels, 0x20, IMAGE_SIZE * IMAGE_SIZE * 3);
  demo->picture = GTK_PICTURE (gtk_picture_new ());
  gtk_widget_set_size_request (GTK_WIDGET (demo->picture), IMAGE_SIZE, IMAGE_SIZE);
  gtk_picture_set_can_shrink (demo->picture, FALSE);
  demo_update_picture (demo);
  gtk_box_append (GTK_BOX (left), GTK_WIDGET (demo->picture));

  buttons = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 6);
  demo->start = gtk_button_new_with_label ("Start");
  demo->cancel = gtk_button_new_with_label ("Cancel");
  demo->kill = gtk_button_new_with_label ("Kill a worker");
  demo->retry = gtk_button_new_with_label ("Retry failed");
  g_signal_connect (demo->start, "clicked", G_CALLBACK (start_clicked_cb), demo);
  g_signal_connect (demo->cancel, "clicked", G_CALLBACK (cancel_clicked_cb), demo);
  g_signal_connect (demo->kill, "clicked", G_CALLBACK (kill_clicked_cb), demo);
  g_signal_connect (demo->retry, "clicked", G_CALLBACK (retry_clicked_cb), demo);
  gtk_box_append (GTK_BOX (buttons), demo->start);
  gtk_box_append (GTK_BOX (buttons), demo->cancel);
  gtk_box_append (GTK_BOX (buttons), demo->kill);
  gtk_box_append (GTK_BOX (buttons), demo->retry);
  /* Always animating: a frame that is late shows. */
  spinner = gtk_spinner_new ();
  demo->spinner = GTK_SPINNER (spinner);
  gtk_spinner_start (demo->spinner);
  gtk_box_append (GTK_BOX (buttons), spinner);
  gtk_widget_add_tick_callback (spinner, tick_cb, demo, NULL);
  gtk_box_append (GTK_BOX (left), buttons);

  demo->stats = GTK_LABEL (gtk_label_new (NULL));
  gtk_label_set_xalign (demo->stats, 0);
  gtk_box_append (GTK_BOX (left), GTK_WIDGET (demo->stats));

  scroll = gtk_scrolled_window_new ();
  gtk_widget_set_vexpand (scroll, TRUE);
  gtk_widget_set_size_request (scroll, 480, 110);
  gtk_scrolled_window_set_child (GTK_SCROLLED_WINDOW (scroll), workers_view_new (demo));
  gtk_box_append (GTK_BOX (left), scroll);

  /* Right: one row per tile. */
  right = gtk_scrolled_window_new ();
  gtk_widget_set_hexpand (right, TRUE);
  tiles = gtk_box_new (GTK_ORIENTATION_VERTICAL, 4);
  gtk_scrolled_window_set_child (GTK_SCROLLED_WINDOW (right), tiles);
  gtk_box_append (GTK_BOX (paned), right);
  for (guint i = 0; i < N_TILES; i++)
    {
      Tile *tile = &demo->tiles[i];
      GtkWidget *row = gtk_box_new (GTK_ORIENTATION_VERTICAL, 2);

      tile->demo = demo;
      tile->index = i;
      tile->label = GTK_LABEL (gtk_label_new (NULL));
      gtk_label_set_xalign (tile->label, 0);
      tile->bar = GTK_PROGRESS_BAR (gtk_progress_bar_new ());
      gtk_box_append (GTK_BOX (row), GTK_WIDGET (tile->label));
      gtk_box_append (GTK_BOX (row), GTK_WIDGET (tile->bar));
      gtk_box_append (GTK_BOX (tiles), row);
      tile_show (tile, TILE_IDLE, NULL);
    }

  stats_refresh_cb (demo);
  g_timeout_add (250, stats_refresh_cb, demo);
  if (demo->test_mode)
    {
      /* A widget paintable shows what the widget drew last: made now, it
       * is current whenever a screenshot is taken. */
      demo->shot = gtk_widget_paintable_new (paned);
      g_timeout_add (50, test_step_cb, demo);
    }

  gtk_window_present (demo->window);
}

int
main (int   argc,
      char *argv[])
{
  Demo demo = { 0 };
  int status;

  demo.test_mode = argc > 1 && g_str_equal (argv[1], "--test-mode");
  demo.samples = SAMPLES;
  demo.lateness = g_array_new (FALSE, FALSE, sizeof (gint64));
  demo.schedstat = open ("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
  demo.app = gtk_application_new ("org.asynccpu.Fractal", G_APPLICATION_NON_UNIQUE);
  g_signal_connect (demo.app, "activate", G_CALLBACK (activate_cb), &demo);
  status = g_application_run (G_APPLICATION (demo.app), 1, argv);

  if (demo.pool != NULL)
    {
      acpu_process_task_pool_set_cancel_tasks_when_shutdown (demo.pool, TRUE);
      acpu_process_task_pool_shutdown (demo.pool, NULL, NULL);
    }
  g_clear_object (&demo.shot);
  g_clear_object (&demo.workers);
  g_clear_object (&demo.pool);
  g_clear_object (&demo.app);
  for (guint i = 0; i < N_TILES; i++)
    {
      g_clear_pointer (&demo.tiles[i].progress, g_binding_unbind);
      g_clear_object (&demo.tiles[i].task);
      g_clear_error (&demo.tiles[i].error);
    }
  g_array_unref (demo.lateness);
  g_free (demo.pixels);

  if (demo.test_mode && (demo.failures > 0 || demo.stage != 8))
    return 1;
  return status;
}
