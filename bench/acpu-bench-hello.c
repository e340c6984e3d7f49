/* acpu-bench-hello.c — the cold-start floor: a minimal GIO-linked program
 * that answers one byte on its standard output (a socketpair) and waits for
 * its input to close, as a worker would.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <gio/gio.h>
#include <gio/gunixoutputstream.h>
#include <gio/gunixinputstream.h>

int
main (int argc, char **argv)
{
  g_autoptr(GOutputStream) out = g_unix_output_stream_new (1, FALSE);
  g_autoptr(GInputStream) in = g_unix_input_stream_new (0, FALSE);
  char byte = 'h';

  if (!g_output_stream_write_all (out, &byte, 1, NULL, NULL, NULL))
    return 1;
  (void) g_input_stream_read (in, &byte, 1, NULL, NULL);
  return 0;
}
