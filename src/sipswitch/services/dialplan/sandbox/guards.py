"""The globals a script runs with (worker side): safe builtins, guards and module proxies.

Everything is rebuilt per execution so nothing one customer's script does survives into the
next script run by the same worker. Modules are never handed out: a script importing `json`
gets a read-only proxy exposing selected functions, so it cannot mutate module state (e.g.
`json.encoder.ESCAPE_DCT`) that later scripts would see.
"""

from __future__ import annotations

import _string  # type: ignore[import-not-found]
import builtins
import datetime
import functools
import json
import math
import operator
import random
import re
import string
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from RestrictedPython.Guards import (
    full_write_guard,
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
)
from RestrictedPython.transformer import INSPECT_ATTRIBUTES

from sipswitch.services.dialplan.sandbox.policy import FORBIDDEN_ATTRIBUTES, FORBIDDEN_NAMES

_SAFE_BUILTIN_NAMES = [
    "None",
    "False",
    "True",
    "abs",
    "all",
    "any",
    "ascii",
    "bin",
    "bool",
    "bytes",
    "callable",
    "chr",
    "complex",
    "dict",
    "divmod",
    "enumerate",
    "filter",
    "float",
    "frozenset",
    "hash",
    "hex",
    "int",
    "isinstance",
    "issubclass",
    "iter",
    "len",
    "list",
    "map",
    "max",
    "min",
    "next",
    "oct",
    "ord",
    "pow",
    "range",
    "repr",
    "reversed",
    "round",
    "set",
    "slice",
    "sorted",
    "str",
    "sum",
    "tuple",
    "zip",
    "ArithmeticError",
    "AssertionError",
    "AttributeError",
    "Exception",
    "IndexError",
    "KeyError",
    "LookupError",
    "NameError",
    "NotImplementedError",
    "OverflowError",
    "RuntimeError",
    "StopIteration",
    "TypeError",
    "UnicodeError",
    "ValueError",
    "ZeroDivisionError",
    "MemoryError",
    "RecursionError",
]


class ModuleProxy:
    """A read-only namespace standing in for an allowed module."""

    __slots__ = ("_members", "_name")

    def __init__(self, name: str, members: Mapping[str, Any]) -> None:
        object.__setattr__(self, "_name", name)
        object.__setattr__(self, "_members", dict(members))

    def __getattr__(self, name: str) -> Any:
        try:
            return self._members[name]
        except KeyError:
            raise AttributeError(f"module {self._name!r} has no attribute {name!r}") from None

    def __setattr__(self, name: str, value: object) -> None:
        raise TypeError("modules are read-only in dialplans")

    def __repr__(self) -> str:
        return f"<module {self._name!r}>"


def _pick(module: object, names: str) -> dict[str, Any]:
    return {name: getattr(module, name) for name in names.split()}


_RANDOM_NAMES = ("random", "randint", "randrange", "choice", "shuffle", "uniform", "sample")


def _modules() -> dict[str, ModuleProxy]:
    rng = random.Random()
    return {
        "re": ModuleProxy(
            "re",
            _pick(
                re,
                "compile search match fullmatch split findall finditer sub subn escape "
                "IGNORECASE I MULTILINE M DOTALL S VERBOSE X ASCII A error",
            ),
        ),
        "math": ModuleProxy(
            "math", {k: v for k, v in vars(math).items() if not k.startswith("_")}
        ),
        "json": ModuleProxy("json", {"loads": _json_loads, "dumps": _json_dumps}),
        "datetime": ModuleProxy(
            "datetime", _pick(datetime, "date datetime time timedelta timezone MINYEAR MAXYEAR")
        ),
        "time": ModuleProxy(
            "time", _pick(time, "time monotonic gmtime localtime strftime mktime struct_time")
        ),
        "random": ModuleProxy(
            "random",
            {
                name: getattr(rng, name)
                for name in _RANDOM_NAMES
            },
        ),
        "string": ModuleProxy(
            "string",
            _pick(string, "ascii_letters ascii_lowercase ascii_uppercase digits hexdigits "
                  "octdigits punctuation printable whitespace"),
        ),
    }  # fmt: skip


def _json_loads(text: str | bytes) -> Any:
    return json.loads(text)


def _json_dumps(value: Any, indent: int | None = None, sort_keys: bool = False) -> str:
    return json.dumps(value, indent=indent, sort_keys=sort_keys)


def guarded_getattr(obj: object, name: str, *default: Any) -> Any:
    """`getattr` for scripts: no `_` names, no frame/code/generator internals, safe format."""
    if type(name) is not str:
        raise TypeError("attribute name must be a string")
    if name.startswith("_") or name in INSPECT_ATTRIBUTES or name in FORBIDDEN_ATTRIBUTES:
        raise AttributeError(f'"{name}" is not available in dialplans')
    if isinstance(obj, type) and obj not in _EXPOSED_TYPES:
        if default:
            return default[0]
        raise AttributeError(f'"{name}" is not available on classes in dialplans')
    if name == "format" and isinstance(obj, str):
        return functools.partial(_SAFE_FORMATTER.format, obj)
    if name == "format" and isinstance(obj, type) and issubclass(obj, str):
        return _SAFE_FORMATTER.format
    return getattr(obj, name, *default)


def guarded_hasattr(obj: object, name: str) -> bool:
    """`hasattr` with the same rules as `guarded_getattr`."""
    try:
        guarded_getattr(obj, name)
    except AttributeError:
        return False
    return True


class _SafeFormatter(string.Formatter):
    """`str.format` whose field names (`{0.attr[key]}`) go through the script guards."""

    def get_field(self, field_name: str, args: Any, kwargs: Any) -> Any:
        first, rest = _string.formatter_field_name_split(field_name)
        obj = self.get_value(first, args, kwargs)
        for is_attr, key in rest:
            obj = guarded_getattr(obj, key) if is_attr else obj[key]
        return obj, first


_SAFE_FORMATTER = _SafeFormatter()

# Classes whose attributes a script may read (constructors, classmethods such as
# `datetime.datetime.now`); reading attributes of any other class is refused.
_EXPOSED_TYPES = frozenset(
    {
        str, bytes, int, float, dict, list, tuple, set, frozenset, bool,
        datetime.date, datetime.datetime, datetime.time, datetime.timedelta, datetime.timezone,
    }
)  # fmt: skip

_INPLACE: dict[str, Callable[[Any, Any], Any]] = {
    "+=": operator.iadd,
    "-=": operator.isub,
    "*=": operator.imul,
    "/=": operator.itruediv,
    "//=": operator.ifloordiv,
    "%=": operator.imod,
    "**=": operator.ipow,
    "<<=": operator.ilshift,
    ">>=": operator.irshift,
    "&=": operator.iand,
    "|=": operator.ior,
    "^=": operator.ixor,
    "@=": operator.imatmul,
}


def _inplacevar(op: str, left: Any, right: Any) -> Any:
    return _INPLACE[op](left, right)


def _getitem(obj: Any, key: Any) -> Any:
    return obj[key]


def _apply(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return func(*args, **kwargs)


def make_globals(facade: object, request: object, log: Callable[[str], None]) -> dict[str, Any]:
    """Fresh globals for one execution: `sys` is the facade, `req` the request view."""
    modules = _modules()

    def safe_import(
        name: str,
        globals_: object = None,
        locals_: object = None,
        fromlist: Iterable[str] | None = (),
        level: int = 0,
    ) -> ModuleProxy:
        if level or name not in modules:
            raise ImportError(f"import of {name!r} is not allowed")
        return modules[name]

    class PrintToLog:
        """RestrictedPython's print target: each print() becomes one `sys.log` line."""

        def __init__(self, _getattr_: object = None) -> None:
            self.collected: list[str] = []

        def __call__(self) -> str:
            return "".join(self.collected)

        def _call_print(self, *objects: object, sep: str = " ", end: str = "\n", **_: Any) -> None:
            text = sep.join(str(item) for item in objects)
            self.collected.append(text + end)
            log(text)

    safe = {name: getattr(builtins, name) for name in _SAFE_BUILTIN_NAMES}
    safe.update(
        {
            "getattr": guarded_getattr,
            "hasattr": guarded_hasattr,
            "setattr": _refuse_setattr,
            "delattr": _refuse_setattr,
            "__import__": safe_import,
        }
    )
    for name in FORBIDDEN_NAMES:
        safe.pop(name, None)
    return {
        "__builtins__": safe,
        "__name__": "dialplan",
        "_getattr_": guarded_getattr,
        "_getitem_": _getitem,
        "_getiter_": iter,
        "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
        "_unpack_sequence_": guarded_unpack_sequence,
        "_write_": full_write_guard,
        "_inplacevar_": _inplacevar,
        "_apply_": _apply,
        "_print_": PrintToLog,
        "sys": facade,
        "req": request,
    }


def _refuse_setattr(*_: object) -> None:
    raise TypeError("setting attributes is not allowed in dialplans")
