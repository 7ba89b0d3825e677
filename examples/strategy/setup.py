"""Builds velox_strategy._imbalance against the installed velox (wheel or editable): its
headers (velox.get_include()) and the C it needs (velox.get_sources("orderbook"): the book
readers the strategy calls). Nothing else from velox is linked: the pipeline calls the
strategy through the vx_user_stage table (velox/stage.h) it gets as a PyCapsule.

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
# where velox's .pxd files are (site-packages for a wheel; the checkout for an editable
# install)
pxd_root = os.path.dirname(os.path.dirname(os.path.abspath(velox.__file__)))
setup(ext_modules=cythonize([ext], language_level=3, include_path=[pxd_root]))
