# SPDX-License-Identifier: LGPL-2.1-or-later
"""The value encoding of asynccpu_glib: Python values as GVariants.

Every value travels as a GVariant of type ``v`` (a variant) whose content
says what it is:

==========================  ===============================================
Python                      content of the ``v``
==========================  ===============================================
``None``                    ``mv`` with no value (``@mv nothing``)
``bool``                    ``b``
``int`` in 64 bits          ``x``
``int`` beyond 64 bits      ``(sv)``: ``("int", <"decimal digits">)``
``float``                   ``d``
``str``                     ``s``; a str holding NUL or lone surrogates is
                            ``("str", <@ay UTF-8 bytes, surrogatepass>)``
``bytes``                   ``ay``
``list``                    ``av`` (each element encoded the same way)
``tuple``                   ``(sv)``: ``("tuple", <@av [...]>)``
``dict`` with str keys      ``a{sv}``
==========================  ===============================================

Only these exact types are accepted (no subclasses, no other type): anything
else raises TypeError before anything is sent.

A task request is ``(ssav)``: the function's module, its qualified name and
its arguments. A reply is ``(yvav)``: ``0`` and the result, or ``1`` and an
error description (a dict: ``type``, ``module``, ``message``, ``args``,
``traceback``), followed by the log records the worker produced, each a dict
of LogRecord attributes.
"""

from gi.repository import GLib

__all__ = ["encode", "decode", "encode_args", "decode_args"]

_INT64_MIN = -(1 << 63)
_INT64_MAX = (1 << 63) - 1
_MAX_DEPTH = 48  # GVariant nests at most 128 levels; each value may take 2

_VT_V = GLib.VariantType.new("v")
_VT_AY = GLib.VariantType.new("ay")
_VT_ENTRY = GLib.VariantType.new("{sv}")
_NOTHING = GLib.Variant.new_maybe(_VT_V, None)

_new_variant = GLib.Variant.new_variant
_new_array = GLib.Variant.new_array
_new_string = GLib.Variant.new_string
_new_int64 = GLib.Variant.new_int64
_new_double = GLib.Variant.new_double
_new_boolean = GLib.Variant.new_boolean
_new_dict_entry = GLib.Variant.new_dict_entry


def _new_bytes(data):
    return GLib.Variant.new_from_bytes(_VT_AY, GLib.Bytes.new(data), True)


def _tagged(tag, content):
    return GLib.Variant.new_tuple(_new_string(tag), _new_variant(content))


def _enc(value, depth):
    t = type(value)
    if t is str:
        if "\0" not in value:
            try:
                return _new_string(value)
            except (UnicodeEncodeError, TypeError):
                pass
        return _tagged("str", _new_bytes(value.encode("utf-8", "surrogatepass")))
    if t is int:
        if _INT64_MIN <= value <= _INT64_MAX:
            return _new_int64(value)
        return _tagged("int", _new_string(str(value)))
    if value is None:
        return _NOTHING
    if t is bool:
        return _new_boolean(value)
    if t is float:
        return _new_double(value)
    if t is bytes:
        return _new_bytes(value)
    if depth >= _MAX_DEPTH:
        raise TypeError("value nested too deeply (more than %d levels) to be sent to a worker"
                        % _MAX_DEPTH)
    if t is list:
        return _new_array(_VT_V, [_new_variant(_enc(x, depth + 1)) for x in value])
    if t is tuple:
        return _tagged("tuple",
                       _new_array(_VT_V, [_new_variant(_enc(x, depth + 1)) for x in value]))
    if t is dict:
        entries = []
        for k, x in value.items():
            if type(k) is not str:
                raise TypeError("dict keys must be str to be sent to a worker, not %s (%r)"
                                % (type(k).__name__, k))
            if "\0" in k:
                raise TypeError("dict keys sent to a worker cannot contain NUL characters")
            entries.append(_new_dict_entry(_new_string(k), _new_variant(_enc(x, depth + 1))))
        return _new_array(_VT_ENTRY, entries)
    raise TypeError(
        "a value of type %s cannot be sent to or from a worker: only None, bool, int, float, "
        "str, bytes, and lists, tuples and str-keyed dicts of those can"
        % (t.__module__ + "." + t.__qualname__ if t.__module__ != "builtins" else t.__qualname__))


def encode(value):
    """Encodes @value as a GVariant of type ``v``; raises TypeError if it cannot."""
    return _new_variant(_enc(value, 0))


def encode_args(values):
    """Encodes a sequence of values as an ``av``."""
    return _new_array(_VT_V, [_new_variant(_enc(x, 1)) for x in values])


def _dec(v):
    ts = v.get_type_string()
    if ts == "s":
        return v.get_string()
    if ts == "x":
        return v.get_int64()
    if ts == "mv":
        return None
    if ts == "b":
        return v.get_boolean()
    if ts == "d":
        return v.get_double()
    if ts == "ay":
        return bytes(v.get_data_as_bytes().get_data())
    if ts == "av":
        return [_dec(v.get_child_value(i).get_variant()) for i in range(v.n_children())]
    if ts == "a{sv}":
        out = {}
        for i in range(v.n_children()):
            e = v.get_child_value(i)
            out[e.get_child_value(0).get_string()] = _dec(e.get_child_value(1).get_variant())
        return out
    if ts == "(sv)":
        tag = v.get_child_value(0).get_string()
        content = v.get_child_value(1).get_variant()
        if tag == "tuple" and content.get_type_string() == "av":
            return tuple(_dec(content.get_child_value(i).get_variant())
                         for i in range(content.n_children()))
        if tag == "int" and content.get_type_string() == "s":
            return int(content.get_string())
        if tag == "str" and content.get_type_string() == "ay":
            return bytes(content.get_data_as_bytes().get_data()).decode("utf-8", "surrogatepass")
        raise ValueError("unknown tagged value %r in the asynccpu_glib encoding" % tag)
    # Lenient reading of plain GVariants a C or JS worker may send.
    if ts in ("y", "n", "q", "i", "u", "t", "h", "o", "g"):
        return v.unpack()
    if ts == "v":
        return _dec(v.get_variant())
    if ts.startswith("m"):
        return None if v.n_children() == 0 else _dec(v.get_child_value(0))
    if ts.startswith("("):
        return tuple(_dec(v.get_child_value(i)) for i in range(v.n_children()))
    if ts.startswith("a{"):
        out = {}
        for i in range(v.n_children()):
            e = v.get_child_value(i)
            out[_dec(e.get_child_value(0))] = _dec(e.get_child_value(1))
        return out
    if ts.startswith("a"):
        return [_dec(v.get_child_value(i)) for i in range(v.n_children())]
    raise ValueError("cannot decode a GVariant of type %s" % ts)


def decode(variant):
    """Decodes a GVariant made by encode() (of type ``v``, or its content)."""
    return _dec(variant)


def decode_args(variant):
    """Decodes an ``av`` made by encode_args() into a list."""
    return [_dec(variant.get_child_value(i).get_variant()) for i in range(variant.n_children())]
