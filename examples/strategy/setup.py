"""Builds velox_strategy against the installed velox (wheel or editable):

- _imbalance (a v1 user stage, velox/stage.h): velox's headers (velox.get_include()) and the
  C it needs (velox.get_sources("orderbook"): the book readers the stage calls); the pipeline
  calls it through the vx_user_stage table it gets as a PyCapsule;
- _quoting (two strategies of ABI v2, velox/strategy.h): velox's headers only. Every velox
  function they use comes from the vx_api table velox hands their init: no velox C source.

setuptools accepts only sources given relative to this file when it builds a wheel (what
`pip install .` does), and velox.get_sources() names velox's C files where velox is
installed (absolute paths). So they are copied below build/ first and named from there."""
import os
import shutil

import numpy
import velox
from Cython.Build import cythonize
from setuptools import Extension, setup

HERE = os.path.dirname(os.path.abspath(__file__))
VELOX_C = os.path.join("build", "velox-c")  # relative to this file


def velox_sources(*modules):
    """velox.get_sources(*modules) copied into build/velox-c/, as paths relative to here."""
    os.makedirs(os.path.join(HERE, VELOX_C), exist_ok=True)
    out = []
    for path in velox.get_sources(*modules):
        rel = os.path.join(VELOX_C, os.path.basename(path))
        shutil.copyfile(path, os.path.join(HERE, rel))
        out.append(rel)
    return out


ext = Extension(
    "velox_strategy._imbalance",
    ["src/velox_strategy/_imbalance.pyx", *velox_sources("orderbook")],
    include_dirs=[velox.get_include(), numpy.get_include()],
    define_macros=[("_GNU_SOURCE", None)],
    extra_compile_args=["-std=c11", "-O3"],
)
quoting = Extension(
    "velox_strategy._quoting",
    ["src/velox_strategy/_quoting.pyx"],  # headers only: the ABI v2 api table does the rest
    include_dirs=[velox.get_include()],
    define_macros=[("_GNU_SOURCE", None)],
    extra_compile_args=["-std=c11", "-O3"],
)
# where velox's .pxd files are (site-packages for a wheel; the checkout for an editable
# install)
pxd_root = os.path.dirname(os.path.dirname(os.path.abspath(velox.__file__)))
setup(ext_modules=cythonize([ext, quoting], language_level=3, include_path=[pxd_root]))
