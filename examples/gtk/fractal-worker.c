/* fractal-worker.c — the worker program of the GTK demo (fractal.c).
 *
 * Usage: started by fractal, never by hand.
 *
 * A program of its own, so a worker never loads GTK: it starts in a few
 * milliseconds and a cold start costs the application nothing. It
 * registers one task, `tile`, which computes one tile of the Mandelbrot set
 * and returns its pixels.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <asynccpu-glib.h>

/* The part of the complex plane the whole image shows. */
#define RE_MIN -2.2
#define RE_MAX  0.8
#define IM_MIN -1.5
#define IM_MAX  1.5

#define ROWS_PER_PARTIAL 8

/* A colour for @t in [0, 1): a smooth palette. */
static void
palette (double  t,
         guint8 *rgb)
{
  rgb[0] = (guint8) (9 * (1 - t) * t * t * t * 255);
  rgb[1] = (guint8) (15 * (1 - t) * (1 - t) * t * t * 255);
  rgb[2] = (guint8) (8.5 * (1 - t) * (1 - t) * (1 - t) * t * 255);
}

/* tile (x, y, size, image_size, max_iter, samples): the tile whose top left
 * corner is pixel (x, y) of a square image of image_size pixels, size pixels
 * a side, each pixel the mean of samples × samples points. Returns `ay`:
 * size × size RGB pixels, row by row. On the way it reports its progress
 * after each row and streams its rows as partial values `(uay)` (the first
 * row, then the pixels of ROWS_PER_PARTIAL rows), so the application can
 * show them as they come. Stops when cancelled. */
static GVariant *
task_tile (GVariant      *args,
           GCancellable  *cancellable,
           gpointer       user_data,
           GError       **error)
{
  guint32 x0, y0, size, image_size, max_iter, samples;
  g_autofree guint8 *pixels = NULL;
  double step;

  g_variant_get (args, "(uuuuuu)", &x0, &y0, &size, &image_size, &max_iter, &samples);
  if (size == 0 || size > 1024 || image_size == 0 || samples == 0 || samples > 16)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "bad tile");
      return NULL;
    }

  pixels = g_malloc0 ((gsize) size * size * 3);
  step = (RE_MAX - RE_MIN) / image_size;

  for (guint32 row = 0; row < size; row++)
    {
      ACpuWorker *worker = acpu_worker_get_running ();

      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        return NULL;
      if (row > 0 && row % ROWS_PER_PARTIAL == 0)
        {
          guint32 first = row - ROWS_PER_PARTIAL;
          GVariant *rows = g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE,
                                                      pixels + (gsize) first * size * 3,
                                                      (gsize) ROWS_PER_PARTIAL * size * 3, 1);

          if (!acpu_worker_send_partial (worker, g_variant_new ("(u@ay)", first, rows), error))
            return NULL;
        }
      acpu_worker_report_progress (worker, (double) row / size, NULL);

      for (guint32 col = 0; col < size; col++)
        {
          double acc[3] = { 0, 0, 0 };

          for (guint32 s = 0; s < samples * samples; s++)
            {
              double cr = RE_MIN + (x0 + col + (s % samples + 0.5) / samples) * step;
              double ci = IM_MIN + (y0 + row + (s / samples + 0.5) / samples) * step;
              double zr = 0, zi = 0;
              guint32 n = 0;
              guint8 rgb[3] = { 0, 0, 0 };

              while (n < max_iter && zr * zr + zi * zi < 4)
                {
                  double t = zr * zr - zi * zi + cr;

                  zi = 2 * zr * zi + ci;
                  zr = t;
                  n++;
                }
              if (n < max_iter)
                palette ((double) n / max_iter, rgb);
              for (int c = 0; c < 3; c++)
                acc[c] += rgb[c];
            }
          for (int c = 0; c < 3; c++)
            pixels[((gsize) row * size + col) * 3 + c] = (guint8) (acc[c] / (samples * samples));
        }
    }

  acpu_worker_report_progress (acpu_worker_get_running (), 1.0, NULL);
  return g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, pixels, (gsize) size * size * 3, 1);
}

int
main (int   argc,
      char *argv[])
{
  g_autoptr(ACpuWorker) worker = acpu_worker_new ();

  acpu_worker_register (worker, "tile", task_tile, NULL, NULL);
  return acpu_worker_run (worker);
}
