/* acpu-wire-private.h
 *
 * Copyright 2026 The asynccpu-glib authors
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#ifndef PACKAGE_STRING
# error "config.h must be included before acpu-wire-private.h"
#endif

#include <gio/gio.h>

G_BEGIN_DECLS

/* The channel: framing, message types, encoding, decoding and validation of
 * everything that crosses between a pool and a worker. docs/protocol.md
 * describes the same format for people. */

#define ACPU_WIRE_VERSION           1
/* What a worker writes first: the pool passes on to stderr whatever its
 * standard output carried before (a runtime's start-up messages). */
#define ACPU_WIRE_MAGIC             "\x89" "ACPU\r\n\x1a"
#define ACPU_WIRE_MAGIC_LEN         8
#define ACPU_WIRE_MAX_PREAMBLE      (1024 * 1024)
#define ACPU_WIRE_HEADER_SIZE       16
/* Values at least this large travel in a sealed memfd when the channel can
 * carry descriptors. */
#define ACPU_WIRE_MEMFD_THRESHOLD   (64 * 1024)
/* A value in a memfd at least this large is worth a thread of its own to
 * map and check (acpu_wire_message_load()): the pool's I/O thread, which
 * all pools share, does not (ACpuWireIn's defer_size). */
#define ACPU_WIRE_DEFER_SIZE        (1024 * 1024)
#define ACPU_WIRE_DEFAULT_MAX_SIZE  (G_GUINT64_CONSTANT (1) << 30)
/* Descriptors received but not yet claimed by a frame. */
#define ACPU_WIRE_MAX_PENDING_FDS   4
/* Limits on a log record. */
#define ACPU_WIRE_MAX_LOG_FIELDS    32
#define ACPU_WIRE_MAX_LOG_KEY       64
#define ACPU_WIRE_MAX_LOG_VALUE     (64 * 1024)
/* The largest LOG frame body a worker's acpu_wire_out_log() can make (32
 * fields of 64 KiB with 64-byte names, and GVariant's framing): a bigger
 * one is refused from its header, before its body is read. */
#define ACPU_WIRE_MAX_LOG_FRAME     (ACPU_WIRE_MAX_LOG_FIELDS * \
                                     (ACPU_WIRE_MAX_LOG_VALUE + ACPU_WIRE_MAX_LOG_KEY + 16) + 64)
/* Limits on a hello. */
#define ACPU_WIRE_MAX_TASK_NAMES    4096
#define ACPU_WIRE_MAX_NAME_LEN      256
/* Limits on progress: its text, and so its frame, refused from the header. */
#define ACPU_WIRE_MAX_PROGRESS_TEXT 1024
#define ACPU_WIRE_MAX_PROGRESS_FRAME (ACPU_WIRE_MAX_PROGRESS_TEXT + 32)
/* Partial values a worker may have sent and the pool not yet acknowledged
 * (ACK): at most this many, and at most this many bytes of them (a value
 * larger than that goes alone, when nothing is unacknowledged). The pool
 * ends a worker that sends past the window. */
#define ACPU_WIRE_PARTIAL_WINDOW       16
#define ACPU_WIRE_PARTIAL_WINDOW_BYTES (1024 * 1024)

typedef enum
{
  ACPU_WIRE_HELLO   = 1, /* worker → pool: (uuuas) version, pid, flags, task names */
  ACPU_WIRE_REQUEST = 2, /* pool → worker: (sv) name, args | memfd: (ss) name, type */
  ACPU_WIRE_RESULT  = 3, /* worker → pool: v value | memfd: s type */
  ACPU_WIRE_ERROR   = 4, /* worker → pool: (sis) domain, code, message */
  ACPU_WIRE_CANCEL  = 5, /* pool → worker: no body */
  ACPU_WIRE_LOG     = 6, /* worker → pool: (ua(say)) log level, fields */
  ACPU_WIRE_PROGRESS = 7, /* worker → pool: (ds) fraction in [0, 1], status text */
  ACPU_WIRE_PARTIAL = 8, /* worker → pool: v value | memfd: s type */
  ACPU_WIRE_ACK     = 9, /* pool → worker: (ut) partial values and their bytes consumed */
  ACPU_WIRE_TYPES   = 10, /* worker → pool, right after a HELLO with HELLO_TYPES:
                          * a(sss) task name, argument type, result type ("": any) */
} ACpuWireType;

typedef enum
{
  ACPU_WIRE_FLAG_MEMFD = 1 << 0, /* the value is in the next descriptor received */
} ACpuWireFlags;

typedef enum
{
  ACPU_WIRE_HELLO_CAN_RECEIVE_FDS = 1 << 0, /* the worker's channel is a Unix socket */
  ACPU_WIRE_HELLO_TYPES           = 1 << 1, /* a TYPES frame follows the HELLO */
} ACpuWireHelloFlags;

/* Who reads: the pool reads what a worker sends, a worker what the pool sends. */
typedef enum
{
  ACPU_WIRE_READER_POOL,
  ACPU_WIRE_READER_WORKER,
} ACpuWireReader;

typedef struct
{
  ACpuWireType  type;
  guint64       id;
  GVariant     *body;      /* the frame's body, normal form; NULL for CANCEL */
  GVariant     *value;     /* REQUEST: args; RESULT, PARTIAL: the value */
  const char   *name;      /* REQUEST: task name (borrowed from body) */
  guint32       version;   /* HELLO */
  guint32       pid;       /* HELLO */
  guint32       flags;     /* HELLO */
  const char  **names;     /* HELLO: task names (container owned, strings borrowed) */
  GVariant     *types;     /* TYPES: a(sss), names and type strings checked (borrowed) */
  const char   *domain;    /* ERROR */
  gint32        code;      /* ERROR */
  const char   *message;   /* ERROR */
  guint32       log_level; /* LOG */
  GVariant     *fields;    /* LOG: a(say) */
  double        fraction;  /* PROGRESS: finite, in [0, 1] */
  const char   *text;      /* PROGRESS: status text, maybe empty (borrowed from body) */
  guint32       ack_count; /* ACK: partial values consumed */
  guint64       ack_bytes; /* ACK: their bytes (g_variant_get_size()) */
  int           fd;        /* REQUEST read by a worker: the sealed memfd the value
                            * is mapped from, kept open for
                            * acpu_wire_out_result_reuse(); a deferred RESULT or
                            * PARTIAL: the sealed memfd its value is in; -1 if none */
  gboolean      deferred;  /* RESULT, PARTIAL: `value` is NULL, its memfd (fd, at
                            * least the reader's defer_size bytes) is neither
                            * mapped nor checked yet: acpu_wire_message_load() */
} ACpuWireMessage;

void      acpu_wire_message_clear (ACpuWireMessage *msg);
gboolean  acpu_wire_message_load  (ACpuWireMessage *msg,
                                   guint64          max_size,
                                   GError         **error);

/* Outgoing bytes, with the descriptors to send along. */
typedef struct
{
  GByteArray *buf;
  gsize       head;          /* bytes of buf already written */
  GArray     *fds;           /* ACpuWireFdMark, by offset */
  gboolean    can_pass_fds;  /* large values go in memfds: set only when the peer
                              * is a local Unix socket that takes descriptors
                              * (the worker's HELLO_CAN_RECEIVE_FDS) */
  gboolean    not_socket;    /* the fd is a pipe or a tty: write(), no descriptors;
                              * found out by acpu_wire_out_flush() */
  gsize       memfd_threshold;
} ACpuWireOut;

void      acpu_wire_out_init      (ACpuWireOut        *out,
                                   gboolean            can_pass_fds);
void      acpu_wire_out_clear     (ACpuWireOut        *out);
gsize     acpu_wire_out_pending   (const ACpuWireOut  *out);
void      acpu_wire_out_magic     (ACpuWireOut        *out);
void      acpu_wire_out_hello     (ACpuWireOut        *out,
                                   guint32             pid,
                                   guint32             flags,
                                   const char * const *names);
void      acpu_wire_out_types     (ACpuWireOut        *out,
                                   GVariant           *types);
gboolean  acpu_wire_out_request   (ACpuWireOut        *out,
                                   guint64             id,
                                   const char         *name,
                                   GVariant           *args,
                                   guint64             max_size,
                                   GError            **error);
gboolean  acpu_wire_out_result    (ACpuWireOut        *out,
                                   guint64             id,
                                   GVariant           *value,
                                   guint64             max_size,
                                   GError            **error);
gboolean  acpu_wire_out_result_reuse (ACpuWireOut     *out,
                                   guint64             id,
                                   GVariant           *value,
                                   GVariant           *mapped,
                                   int                *fd);
void      acpu_wire_out_error     (ACpuWireOut        *out,
                                   guint64             id,
                                   const GError       *error);
void      acpu_wire_out_cancel    (ACpuWireOut        *out,
                                   guint64             id);
void      acpu_wire_out_log       (ACpuWireOut        *out,
                                   guint64             id,
                                   guint32             log_level,
                                   const GLogField    *fields,
                                   gsize               n_fields);
void      acpu_wire_out_progress  (ACpuWireOut        *out,
                                   guint64             id,
                                   double              fraction,
                                   const char         *text);
gboolean  acpu_wire_out_partial   (ACpuWireOut        *out,
                                   guint64             id,
                                   GVariant           *value,
                                   guint64             max_size,
                                   GError            **error);
void      acpu_wire_out_ack       (ACpuWireOut        *out,
                                   guint64             id,
                                   guint32             count,
                                   guint64             bytes);
gboolean  acpu_wire_out_flush     (ACpuWireOut        *out,
                                   int                 fd,
                                   GError            **error);

/* Whether @fd is an AF_UNIX socket: the only channel that carries memfds. */
gboolean  acpu_wire_fd_is_unix_socket (int            fd);

/* write() that never raises SIGPIPE: a reader gone is EPIPE. */
gssize    acpu_wire_write_no_sigpipe  (int            fd,
                                       const void    *data,
                                       gsize          len);

/* Incoming bytes and descriptors, parsed into validated messages. */
typedef struct
{
  GByteArray     *buf;
  gsize           head;      /* bytes of buf already parsed */
  GQueue          fds;       /* received descriptors not yet claimed */
  ACpuWireReader  reader;
  guint64         max_size;
  gsize           preamble;  /* bytes skipped before the magic */
  gboolean        dontwait;  /* read without blocking on a blocking fd (MSG_DONTWAIT,
                              * or a poll() first when the fd is not a socket) */
  gboolean        not_socket; /* the fd is a pipe or a tty: read(), no descriptors;
                               * found out by acpu_wire_in_read() */
  guint64         defer_size; /* a RESULT or PARTIAL value in a memfd at least this
                               * large comes `deferred`; G_MAXUINT64 (the default):
                               * never */
} ACpuWireIn;

void      acpu_wire_in_init       (ACpuWireIn         *in,
                                   ACpuWireReader      reader,
                                   guint64             max_size);
void      acpu_wire_in_clear      (ACpuWireIn         *in);
gssize    acpu_wire_in_read       (ACpuWireIn         *in,
                                   int                 fd,
                                   GError            **error);
void      acpu_wire_in_feed       (ACpuWireIn         *in,
                                   const guint8       *data,
                                   gsize               len);
gboolean  acpu_wire_in_feed_fd    (ACpuWireIn         *in,
                                   int                 fd,
                                   GError            **error);
gboolean  acpu_wire_in_find_magic (ACpuWireIn         *in,
                                   GByteArray         *skipped,
                                   GError            **error);
gboolean  acpu_wire_in_peek       (ACpuWireIn         *in,
                                   guint              *type,
                                   guint              *flags,
                                   guint64            *id,
                                   gsize              *frame_size);
gboolean  acpu_wire_in_next       (ACpuWireIn         *in,
                                   ACpuWireMessage    *msg,
                                   GError            **error);

/* Between the wire's own files (acpu-wire-read.c calls acpu-wire-message.c). */
gboolean            acpu_wire_type_allowed   (ACpuWireReader      reader,
                                              guint               type);
const GVariantType *acpu_wire_body_type      (ACpuWireType        type,
                                              gboolean            memfd);
GVariant           *acpu_wire_variant_new    (const GVariantType *type,
                                              GBytes             *bytes,
                                              const char         *what,
                                              GError            **error);
gboolean            acpu_wire_message_unpack (ACpuWireIn         *in,
                                              ACpuWireMessage    *msg,
                                              gboolean            memfd,
                                              GError            **error);

/* Errors across the wire. */
GError   *acpu_wire_error_new     (const char         *domain,
                                   gint32              code,
                                   const char         *message);

G_END_DECLS
