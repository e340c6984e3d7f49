# SPDX-License-Identifier: LGPL-2.1-or-later
"""A fast path for the value encoding of _values: the same GVariants,
serialised and read in pure Python (GVariant's documented serialisation
format, normal form), so a call costs two GLib calls rather than one per
value. The result is byte for byte what GLib makes (the tests check it);
when anything looks unusual the slower _values code, built on GLib's own
GVariant functions, is used instead.
"""

import struct
import sys

from gi.repository import GLib

from . import _values

__all__ = ["pack_request", "unpack_request", "unpack_request_bytes", "pack_reply",
           "reply_bytes", "unpack_reply", "unpack_reply_bytes", "ENABLED"]

ENABLED = sys.byteorder == "little"

_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1
_MAX_DEPTH = _values._MAX_DEPTH  # noqa: SLF001

_pack_q = struct.Struct("<q").pack
_pack_d = struct.Struct("<d").pack
_unpack_q = struct.Struct("<q").unpack_from
_unpack_d = struct.Struct("<d").unpack_from

_VT_REQUEST = GLib.VariantType.new("(ssav)")
_VT_REPLY = GLib.VariantType.new("(yvav)")
_ZEROS = b"\0" * 8


class _Fallback(Exception):
    pass


def _osz(total):
    if total == 0:
        return 0
    if total <= 0xFF:
        return 1
    if total <= 0xFFFF:
        return 2
    if total <= 0xFFFFFFFF:
        return 4
    return 8


def _total(body, n):
    if body + n <= 0xFF:
        return body + n
    if body + 2 * n <= 0xFFFF:
        return body + 2 * n
    if body + 4 * n <= 0xFFFFFFFF:
        return body + 4 * n
    return body + 8 * n


def _frame(parts, ends):
    """Joins @parts and appends the framing offsets @ends (in that order)."""
    body = b"".join(parts)
    if not ends:
        return body
    size = _osz(_total(len(body), len(ends)))
    return body + b"".join(e.to_bytes(size, "little") for e in ends)


# Serialising --------------------------------------------------------------

def _ser(value, depth):
    """Returns (type string, serialised data) of the content of the ``v``."""
    t = type(value)
    if t is str:
        if "\0" not in value:
            try:
                return b"s", value.encode("utf-8") + b"\0"
            except UnicodeEncodeError:
                pass
        return b"(sv)", _tagged(b"str\0", b"ay", value.encode("utf-8", "surrogatepass"))
    if t is int:
        if _INT64_MIN <= value <= _INT64_MAX:
            return b"x", _pack_q(value)
        return b"(sv)", _tagged(b"int\0", b"s", str(value).encode("ascii") + b"\0")
    if value is None:
        return b"mv", b""
    if t is bool:
        return b"b", b"\1" if value else b"\0"
    if t is float:
        return b"d", _pack_d(value)
    if t is bytes:
        return b"ay", value
    if depth >= _MAX_DEPTH:
        raise _Fallback()
    if t is list:
        return b"av", _ser_av(value, depth + 1)
    if t is tuple:
        return b"(sv)", _tagged(b"tuple\0", b"av", _ser_av(value, depth + 1))
    if t is dict:
        parts = []
        ends = []
        off = 0
        for k, x in value.items():
            if type(k) is not str or "\0" in k:
                raise _Fallback()
            pad = -off & 7
            if pad:
                parts.append(_ZEROS[:pad])
                off += pad
            entry = _entry(k.encode("utf-8") + b"\0", _ser_var(x, depth + 1))
            parts.append(entry)
            off += len(entry)
            ends.append(off)
        return b"a{sv}", _frame(parts, ends)
    raise _Fallback()


def _ser_var(value, depth):
    ts, data = _ser(value, depth)
    return data + b"\0" + ts


def _ser_av(values, depth):
    parts = []
    ends = []
    off = 0
    for x in values:
        pad = -off & 7
        if pad:
            parts.append(_ZEROS[:pad])
            off += pad
        data = _ser_var(x, depth)
        parts.append(data)
        off += len(data)
        ends.append(off)
    return _frame(parts, ends)


def _entry(key, vdata):
    """A ``{sv}`` or ``(sv)``: key (with its NUL), padding, variant."""
    pad = -len(key) & 7
    return _frame([key, _ZEROS[:pad], vdata], [len(key)])


def _tagged(tag, ts, data):
    return _entry(tag, data + b"\0" + ts)


# Bound once: each GLib.X lookup goes through PyGObject's module proxy.
_new_from_bytes = GLib.Variant.new_from_bytes
_bytes_new = GLib.Bytes.new


def _make(vtype, data):
    return _new_from_bytes(vtype, _bytes_new(data), False)


def request_bytes(module, qualname, args):
    """The serialised ``(ssav)`` in pure Python (no GLib call, so no GIL
    release), or None when the slow path must be taken."""
    if ENABLED:
        try:
            s1 = module.encode("utf-8") + b"\0"
            s2 = qualname.encode("utf-8") + b"\0"
            av = _ser_av(args, 1)
            head = len(s1) + len(s2)
            pad = -head & 7
            return _frame([s1, s2, _ZEROS[:pad], av], [head, len(s1)])
        except (_Fallback, UnicodeEncodeError, RecursionError):
            pass
    return None


def request_from_bytes(data):
    return _make(_VT_REQUEST, data)


def pack_request(module, qualname, args):
    """``(ssav)``: module, qualname and the encoded args; TypeError as
    _values.encode() for a value that cannot be sent."""
    data = request_bytes(module, qualname, args)
    if data is not None:
        return _make(_VT_REQUEST, data)
    return GLib.Variant.new_tuple(GLib.Variant.new_string(module),
                                  GLib.Variant.new_string(qualname),
                                  _values.encode_args(args))


def reply_bytes(status, value, records):
    """The serialised ``(yvav)`` in pure Python, or None when the slow path
    must be taken."""
    if ENABLED:
        try:
            v = _ser_var(value, 0)
            av = _ser_av(records, 1)
            end_v = 8 + len(v)
            pad = -end_v & 7
            return _frame([bytes((status,)), b"\0" * 7, v, _ZEROS[:pad], av], [end_v])
        except (_Fallback, UnicodeEncodeError, RecursionError):
            pass
    return None


def pack_reply(status, value, records):
    """``(yvav)``."""
    data = reply_bytes(status, value, records)
    if data is not None:
        return _make(_VT_REPLY, data)
    return GLib.Variant.new_tuple(GLib.Variant.new_byte(status), _values.encode(value),
                                  _values.encode_args(records))


# Reading --------------------------------------------------------------------

def _rd(buf, pos, size):
    return int.from_bytes(buf[pos:pos + size], "little")


def _read_var(buf, s, e):
    z = buf.rfind(b"\0", s, e)
    if z < 0:
        raise _Fallback()
    return _read(buf, s, z, buf[z + 1:e])


def _read(buf, s, e, ts):
    if ts == b"s":
        if e <= s or buf[e - 1] != 0:
            raise _Fallback()
        return buf[s:e - 1].decode("utf-8")
    if ts == b"x":
        if e - s != 8:
            raise _Fallback()
        return _unpack_q(buf, s)[0]
    if ts == b"mv":
        if e != s:
            raise _Fallback()
        return None
    if ts == b"b":
        if e - s != 1:
            raise _Fallback()
        return buf[s] != 0
    if ts == b"d":
        if e - s != 8:
            raise _Fallback()
        return _unpack_d(buf, s)[0]
    if ts == b"ay":
        return buf[s:e]
    if ts == b"av":
        return [_read_var(buf, a, b) for a, b in _elements(buf, s, e)]
    if ts == b"a{sv}":
        out = {}
        for a, b in _elements(buf, s, e):
            k, vs, ve = _read_entry(buf, a, b)
            out[k] = _read_var(buf, vs, ve)
        return out
    if ts == b"(sv)":
        tag, vs, ve = _read_entry(buf, s, e)
        z = buf.rfind(b"\0", vs, ve)
        if z < 0:
            raise _Fallback()
        cts = buf[z + 1:ve]
        if tag == "tuple" and cts == b"av":
            return tuple(_read_var(buf, a, b) for a, b in _elements(buf, vs, z))
        if tag == "int" and cts == b"s":
            return int(_read(buf, vs, z, b"s"))
        if tag == "str" and cts == b"ay":
            return buf[vs:z].decode("utf-8", "surrogatepass")
    raise _Fallback()


def _elements(buf, s, e):
    """(start, end) of each element of an array of 8-aligned variable-size elements."""
    if s == e:
        return []
    size = _osz(e - s)
    table = s + _rd(buf, e - size, size)
    if table > e - size or (e - table) % size:
        raise _Fallback()
    out = []
    start = s
    for pos in range(table, e, size):
        end = s + _rd(buf, pos, size)
        if end < start or end > table:
            raise _Fallback()
        out.append((start, end))
        start = end + (-(end - s) & 7)
    return out


def _read_entry(buf, s, e):
    size = _osz(e - s)
    kend = s + _rd(buf, e - size, size)
    if kend <= s or kend > e - size or buf[kend - 1] != 0:
        raise _Fallback()
    key = buf[s:kend - 1].decode("utf-8")
    vs = kend + (-(kend - s) & 7)
    return key, vs, e - size


def _data(variant):
    return bytes(variant.get_data_as_bytes().get_data())


def _request_from(buf):
    """(module, qualname, args list) from the bytes of a ``(ssav)``, or None
    when the slow path must be taken."""
    if ENABLED:
        try:
            e = len(buf)
            size = _osz(e)
            end1 = _rd(buf, e - size, size)
            end2 = _rd(buf, e - 2 * size, size)
            module = _read(buf, 0, end1, b"s")
            qualname = _read(buf, end1, end2, b"s")
            args = _read(buf, end2 + (-end2 & 7), e - 2 * size, b"av")
            return module, qualname, args
        except (_Fallback, UnicodeDecodeError, ValueError, IndexError, struct.error):
            pass
    return None


def _reply_from(buf):
    """(status, value, records) from the bytes of a ``(yvav)``, or None when
    the slow path must be taken."""
    if ENABLED:
        try:
            e = len(buf)
            size = _osz(e)
            end_v = _rd(buf, e - size, size)
            status = buf[0]
            value = _read_var(buf, 8, end_v)
            records = _read(buf, end_v + (-end_v & 7), e - size, b"av")
            return status, value, records
        except (_Fallback, UnicodeDecodeError, ValueError, IndexError, struct.error):
            pass
    return None


def unpack_request(variant):
    """(module, qualname, args list) from a ``(ssav)``."""
    out = _request_from(_data(variant)) if ENABLED else None
    if out is not None:
        return out
    return (variant.get_child_value(0).get_string(), variant.get_child_value(1).get_string(),
            _values.decode_args(variant.get_child_value(2)))


def unpack_request_bytes(buf):
    """unpack_request() for the serialised bytes of a ``(ssav)`` (whatever
    they hold: a request is data from another process)."""
    out = _request_from(buf)
    return out if out is not None else unpack_request(_make(_VT_REQUEST, buf))


def unpack_reply(variant, checked=False):
    """(status, value, records) from a ``(yvav)`` (@checked: the caller has
    checked its type already)."""
    if ENABLED and (checked or variant.get_type_string() == "(yvav)"):
        out = _reply_from(_data(variant))
        if out is not None:
            return out
    return (variant.get_child_value(0).get_byte(), _values.decode(variant.get_child_value(1)),
            _values.decode_args(variant.get_child_value(2)))


def unpack_reply_bytes(buf):
    """unpack_reply() for the serialised bytes of a ``(yvav)`` (data from a
    worker: anything at all)."""
    out = _reply_from(buf)
    return out if out is not None else unpack_reply(_make(_VT_REPLY, buf), True)
