#!/usr/bin/env bash
# Checks an installed velox wheel as a downstream user meets it (CI step 60's wheel leg runs it
# on the manylinux wheel): in a fresh venv the wheel installs and imports, ships its typing and
# Cython files (py.typed, .pyi, .pxd), and a downstream Cython extension builds against it
# (velox.get_include() / velox.get_sources()) and pushes 100,000 records without the GIL.
#
#   bash scripts/check-wheel.sh dist/velox-*.whl     (PYTHON=python3.12 for a cp312 wheel)
set -euo pipefail
[ $# -eq 1 ] && [ -f "$1" ] || { echo "usage: check-wheel.sh WHEEL" >&2; exit 2; }
wheel=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"${PYTHON:-python3}" -m venv "$work/fresh"
"$work/fresh/bin/pip" install -q "$wheel"
cd "$work/fresh"
"$work/fresh/bin/python" - <<'PY'
import importlib.resources, velox
assert "site-packages" in velox.__file__, velox.__file__
assert velox.TXN_DTYPE.itemsize == 32 and velox.BUNDLE_DTYPE.itemsize == 528
files = {p.name for p in importlib.resources.files("velox").iterdir()}
for needed in ("py.typed", "__init__.pyi", "_ring.pxd", "_ring.pyi", "tsc.pyi"):
    assert needed in files, needed
r = velox.SpscRing(8); assert r.try_push(velox.Transaction(qty=1)) and r.try_pop() is not None
print("wheel OK:", velox.__file__)
PY

# Downstream Cython against the installed wheel (no checkout): cimport velox's .pxd files, compile
# the C core the wheel ships (velox.get_include() / get_sources()), push numbered records with
# the GIL released, and check every one arrives in order through the Python SpscRing.
"$work/fresh/bin/pip" install -q Cython setuptools
mkdir "$work/downstream"
cd "$work/downstream"
cat > vxdown.pyx <<'PYX'
# cython: language_level=3
cimport numpy as cnp
from libc.stdint cimport uint32_t, uint64_t
from velox._ring cimport SpscRing
from velox.includes.ring cimport vx_ring_pop_n, vx_ring_try_push
from velox.includes.types cimport vx_txn, VX_OK

cnp.import_array()

def push_numbered(SpscRing ring, uint64_t first, uint32_t count):
    """Push records seq = first, first+1, ... without the GIL until count or the ring is full."""
    cdef vx_txn t
    cdef uint32_t i, pushed = 0
    ring._live("push_numbered")
    ring._producer_busy += 1
    with nogil:
        for i in range(count):
            t = vx_txn(tsc=0, seq=first + i, price=<long long>(first + i) * 100, qty=1,
                       side=0, kind=0, pad=[0, 0])
            if vx_ring_try_push(ring.ring, &t) != VX_OK:
                break
            pushed += 1
    ring._producer_busy -= 1
    return pushed

def drain(SpscRing ring, cnp.ndarray out):
    """Pop into out (1-D C-contiguous TXN_DTYPE, checked by the caller) without the GIL."""
    cdef void *dst = cnp.PyArray_DATA(out)
    cdef uint32_t n = <uint32_t>cnp.PyArray_DIM(out, 0), got = 0
    ring._live("drain")
    ring._consumer_busy += 1
    with nogil:
        vx_ring_pop_n(ring.ring, dst, n, &got)
    ring._consumer_busy -= 1
    return got
PYX
cat > setup.py <<'PY'
import numpy, velox
from Cython.Build import cythonize
from setuptools import Extension, setup

ext = Extension("vxdown", ["vxdown.pyx", *velox.get_sources("ring")],
                include_dirs=[velox.get_include(), numpy.get_include()],
                define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
                extra_compile_args=["-std=c11", "-O2"], extra_link_args=["-pthread"])
setup(name="vxdown", ext_modules=cythonize([ext], language_level=3, quiet=True))
PY
"$work/fresh/bin/python" setup.py -q build_ext --inplace > "$work/downstream.log" 2>&1 \
    || { tail -40 "$work/downstream.log"; exit 1; }
"$work/fresh/bin/python" - <<'PY'
import numpy as np, velox, vxdown
assert "site-packages" in velox.__file__ and "site-packages" in velox.get_include(), velox.get_include()
ring = velox.SpscRing(1024, velox.TXN_DTYPE)
total, nxt = 100_000, 0
while nxt < total:  # producer in C without the GIL, consumer through Python's pop_many
    pushed = vxdown.push_numbered(ring, nxt, min(700, total - nxt))
    assert pushed > 0, nxt
    got = ring.pop_many(pushed)
    assert len(got) == pushed, (len(got), pushed)
    assert (got["seq"] == np.arange(nxt, nxt + pushed)).all(), nxt
    assert (got["price"] == got["seq"].astype(np.int64) * 100).all() and (got["qty"] == 1).all()
    nxt += pushed
assert vxdown.push_numbered(ring, 0, 5000) == 1024  # stops when full
out = np.zeros(2000, velox.TXN_DTYPE)
assert vxdown.drain(ring, out) == 1024 and (out["seq"][:1024] == np.arange(1024)).all()
assert ring.try_pop() is None
print("downstream Cython OK:", total, "records pushed nogil from an extension built against the wheel")
PY
