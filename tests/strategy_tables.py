"""ctypes-made v2 strategy tables (csrc/velox/strategy.h vx_strategy) for the loading checks of
backtests and pipelines: a copy of builtin:quote's table with fields changed, in a
"velox.strategy.v2" capsule of its own."""

import ctypes

from velox._backtest import builtin_strategy

# prototypes of our own (other test modules set argtypes on ctypes.pythonapi's functions)
capsule_pointer = ctypes.PYFUNCTYPE(ctypes.c_void_p, ctypes.py_object, ctypes.c_char_p)(
    ("PyCapsule_GetPointer", ctypes.pythonapi))
capsule_new = ctypes.PYFUNCTYPE(ctypes.py_object, ctypes.c_void_p, ctypes.c_void_p,
                                ctypes.c_void_p)(("PyCapsule_New", ctypes.pythonapi))
V2 = b"velox.strategy.v2"
STRATEGY_SIZE = 72  # sizeof(vx_strategy): 4 u32, name, state, 5 function pointers
#: byte offsets of the fields a copy may change: three uint32, one function pointer
OFFSETS = {"abi_version": 0, "struct_size": 4, "api_version": 8, "on_market": 40}

#: (field, value, texts the refusal names): each breaks one check of strategy.h "Loading"
MISMATCHES = [
    ("api_version", 99, ("vx_api version 99", "vx_api version 1")),
    ("abi_version", 3, ("abi_version 3", "version 2")),
    ("struct_size", 8, ("struct_size 8",)),
    ("on_market", 0, ("no on_market",)),
]


def table_capsule(**fields):
    """(capsule, keep): a capsule over a writable copy of builtin:quote's vx_strategy with
    `fields` set (on_market: the pointer). `keep` holds the original's capsule (the copy
    shares its state and callbacks), the copy and the capsule's name (a capsule keeps the
    name's pointer): keep it alive as long as the capsule."""
    owner = builtin_strategy("quote")
    buf = ctypes.create_string_buffer(STRATEGY_SIZE)
    ctypes.memmove(buf, capsule_pointer(owner, V2), STRATEGY_SIZE)
    for field, value in fields.items():
        kind = ctypes.c_void_p if field == "on_market" else ctypes.c_uint32
        kind.from_buffer(buf, OFFSETS[field]).value = value
    name = ctypes.create_string_buffer(V2)
    return capsule_new(ctypes.addressof(buf), ctypes.addressof(name), None), (owner, buf, name)
