"""velox.get_include() / velox.get_sources(): the C core downstream Cython compiles against."""

import glob
import os
import re

import pytest

import velox

PKG = os.path.dirname(os.path.realpath(velox.__file__))


def _pxd_headers():
    headers = set()
    for pxd in glob.glob(os.path.join(PKG, "**", "*.pxd"), recursive=True):
        with open(pxd, encoding="utf-8") as f:
            headers.update(re.findall(r'cdef extern from "(velox/[^"]+)"', f.read()))
    return headers


def test_get_include_holds_every_header_the_pxd_files_name():
    inc = velox.get_include()
    assert isinstance(inc, str) and os.path.isabs(inc)
    headers = _pxd_headers()
    assert "velox/ring.h" in headers and "velox/types.h" in headers
    for header in sorted(headers):
        assert os.path.isfile(os.path.join(inc, header)), header


def test_get_sources_ring_lists_its_dependencies_in_order():
    files = velox.get_sources("ring")
    assert [os.path.basename(p) for p in files] == ["ring.c", "tsc.c", "types.c"]
    for path in files:
        assert os.path.isabs(path) and os.path.isfile(path), path
        assert os.path.dirname(path) == os.path.join(velox.get_include(), "velox")


def test_get_sources_matches_the_pyx_build_lists_and_dedups():
    for pyx in glob.glob(os.path.join(PKG, "*.pyx")):
        with open(pyx, encoding="utf-8") as f:
            m = re.search(r"^# distutils: sources = (.*)$", f.read(), re.M)
        wanted = [os.path.basename(p) for p in m.group(1).split()]
        got = [os.path.basename(p) for p in velox.get_sources(wanted[0][:-2])]
        assert got == wanted, pyx
    both = [os.path.basename(p) for p in velox.get_sources("shm", "ring", "orderbook")]
    assert both == ["shm.c", "shm_segment.c", "ring.c", "tsc.c", "types.c", "orderbook.c"]
    for path in velox.get_sources("pipeline", "shm", "histogram", "tsc", "types"):
        assert os.path.isfile(path), path


@pytest.mark.parametrize("bad", ["bogus", "ring.c", "_ring", "backoff", ""])
def test_get_sources_unknown_module_raises_naming_it(bad):
    with pytest.raises(ValueError, match=re.escape(repr(bad))):
        velox.get_sources(bad)


def test_get_sources_argument_errors():
    with pytest.raises(ValueError, match="at least one"):
        velox.get_sources()
    with pytest.raises(TypeError, match="3"):
        velox.get_sources("ring", 3)


def test_exported():
    assert "get_include" in velox.__all__ and "get_sources" in velox.__all__


def test_get_sources_docstring_names_every_module_and_what_it_returns():
    doc = velox.get_sources.__doc__
    for name in velox._c_modules():
        assert re.search(rf"\b{name}\b", doc), name
    assert "absolute paths" in doc
