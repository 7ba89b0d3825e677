"""Build script for velox's native extensions.

Every ``velox/*.pyx`` becomes an extension module of the same name. Each .pyx names the C
sources it links in its own header line (``# distutils: sources = csrc/velox/ring.c ...``),
so adding a module means adding a .pyx, nothing here.

Build switches (environment variables, read at build time):

- ``VELOX_SANITIZE=thread|address``: build with ThreadSanitizer, or AddressSanitizer +
  UndefinedBehaviorSanitizer (``address`` implies ``undefined``). Import the result with the
  sanitizer runtime preloaded (see docs/reliability.md).
- ``VELOX_DEBUG=1``: ``-O1 -g``, asserts kept, and the debug-only checks (SPSC misuse guard,
  order-book invariant checks) compiled in.
- ``VELOX_NATIVE=1``: ``-march=native`` (for a build that stays on this machine).
- ``VELOX_LTO=0``: no link-time optimisation in release builds (on by default: ``-flto=auto
  -fno-semantic-interposition``).
- ``VELOX_ONLY=velox._ring,velox.tsc``: build only these modules (developer convenience).

``build_py`` also copies ``csrc/velox/*.h`` and ``*.c`` into the wheel's ``velox/include/velox/``
so downstream Cython can compile against an installed velox (``velox.get_include()``,
``velox.get_sources()``; see docs/ring.md).
"""

import glob
import os
import sysconfig
import threading

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext as _build_ext
from setuptools.command.build_py import build_py as _build_py

SANITIZE = os.environ.get("VELOX_SANITIZE", "").strip()
DEBUG = os.environ.get("VELOX_DEBUG", "").strip() not in ("", "0")
NATIVE = os.environ.get("VELOX_NATIVE", "").strip() not in ("", "0")
ONLY = {m.strip() for m in os.environ.get("VELOX_ONLY", "").split(",") if m.strip()}

if SANITIZE not in ("", "thread", "address"):
    raise SystemExit(f"VELOX_SANITIZE must be 'thread' or 'address', got {SANITIZE!r}")

# -ffp-contract=off: no fused multiply-add, so the simulated venue's double arithmetic (the
# prob queue model) gives the same reports with every compiler and CPU (GCC in ISO mode does
# not contract; clang, the wheels' zig cc, contracts within an expression by default)
compile_args = ["-std=c11", "-Wall", "-Wextra", "-Wno-unused-function", "-fno-strict-aliasing",
                "-ffp-contract=off"]
link_args = ["-pthread"]
macros = [("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION"), ("_GNU_SOURCE", "1")]
if DEBUG or SANITIZE:
    compile_args += ["-O1", "-g", "-fno-omit-frame-pointer"]
    macros.append(("VELOX_DEBUG", "1"))
else:
    compile_args += ["-O3", "-g0"]  # -g0: Python's default CFLAGS add -g (4x larger wheels)
    if os.environ.get("VELOX_LTO", "1").strip() not in ("", "0"):
        # Link-time optimisation: inlines the small cross-file hot calls (ring peek/reserve/
        # commit/release, vx_txn_validate, vx_book_apply) into the pipeline's stage loops:
        # 6-9 % fewer instructions per transaction (callgrind), +5..10 % unpaced throughput.
        # VELOX_LTO=0 turns it off (e.g. a toolchain without LTO). Sanitizer/debug builds never
        # use it.
        # -fno-semantic-interposition: without it -fPIC keeps every extern call behind the
        # PLT (interposable), and LTO cannot inline across files.
        compile_args += ["-flto=auto", "-fno-semantic-interposition"]
        link_args += ["-flto=auto", "-fno-semantic-interposition"]
    macros.append(("NDEBUG", "1"))
if DEBUG:
    compile_args.append("-UNDEBUG")
if sysconfig.get_config_var("Py_GIL_DISABLED"):
    # Free-threaded CPython (3.13t/3.14t): Python threads run in parallel, so the ring's
    # per-side misuse guard (debug builds only elsewhere) is always on: a second producer or
    # consumer thread gets RuntimeError instead of corrupting the ring (see docs/reliability.md).
    macros.append(("VELOX_RING_GUARD", "1"))
if SANITIZE == "thread":
    compile_args.append("-fsanitize=thread")
    link_args.append("-fsanitize=thread")
elif SANITIZE == "address":
    compile_args += ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined"]
    link_args += ["-fsanitize=address,undefined"]
if NATIVE:
    compile_args.append("-march=native")


def module_name(pyx_path):
    return os.path.splitext(pyx_path)[0].replace(os.sep, ".")


extensions = [
    Extension(
        module_name(pyx),
        [pyx],
        include_dirs=["csrc", numpy.get_include()],
        # Headers as dependencies: rebuild when a contract changes, and ship them in the sdist.
        depends=sorted(glob.glob(os.path.join("csrc", "velox", "*.h"))),
        define_macros=macros,
        extra_compile_args=compile_args,
        extra_link_args=link_args,
    )
    for pyx in sorted(glob.glob(os.path.join("velox", "*.pyx")))
    if not ONLY or module_name(pyx) in ONLY
]

_build_thread = threading.local()  # which extension this build_ext worker thread compiles


def usable_cpus():
    """CPUs this process may run on (its affinity mask: a container or taskset may allow fewer
    than os.cpu_count())."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


class build_ext(_build_ext):
    """Builds the extensions in parallel (one per CPU, ``-j N`` still wins), each into its own
    ``build_temp/<module>/``. Several extensions compile the same ``csrc/velox/*.c``; with one
    shared object path, two parallel builds rewrote one object while a third linked it (seen:
    ``lto1: internal compiler error: Bus error``), so each worker thread sees a private
    ``build_temp`` (measured on 2 cores: a full build 92 s serial -> 72 s)."""

    def finalize_options(self):
        super().finalize_options()
        if not self.parallel:
            self.parallel = usable_cpus()

    @property
    def build_temp(self):
        base = self.__dict__.get("_build_temp_base")
        sub = getattr(_build_thread, "module", None)
        return os.path.join(base, sub) if base and sub else base

    @build_temp.setter
    def build_temp(self, value):
        self.__dict__["_build_temp_base"] = value

    def build_extension(self, ext):
        _build_thread.module = ext.name
        try:
            super().build_extension(ext)
        finally:
            _build_thread.module = None


class build_py(_build_py):
    """Also ship the C core in the wheel: csrc/velox/*.h and *.c -> velox/include/velox/.

    Downstream Cython that cimports velox's .pxd files compiles these into itself (Python
    loads extension modules with private symbols); ``velox.get_include()`` and
    ``velox.get_sources()`` point at them. An editable install skips the copy (setuptools
    runs no build_py there) and ``get_include()`` falls back to the checkout's ``csrc/``.
    """

    def _c_core(self):
        src = os.path.join("csrc", "velox")
        dst = os.path.join(self.build_lib, "velox", "include", "velox")
        names = sorted(glob.glob(os.path.join(src, "*.h")) + glob.glob(os.path.join(src, "*.c")))
        return [(path, os.path.join(dst, os.path.basename(path))) for path in names]

    def run(self):
        super().run()
        if self.editable_mode:
            return
        for srcfile, target in self._c_core():
            self.mkpath(os.path.dirname(target))
            self.copy_file(srcfile, target)

    def get_outputs(self, include_bytecode=True):
        outputs = super().get_outputs(include_bytecode)
        if self.editable_mode:
            return outputs
        return outputs + [target for _, target in self._c_core()]


setup(
    cmdclass={"build_ext": build_ext, "build_py": build_py},
    ext_modules=cythonize(
        extensions,
        language_level=3,
        compiler_directives={"embedsignature": True, "boundscheck": False, "wraparound": False},
        # A sanitizer or debug build must never reuse C generated for another configuration.
        force=bool(SANITIZE or DEBUG),
        nthreads=usable_cpus(),
    ),
)
