"""Builds velox_strategy._imbalance against the installed velox (wheel or editable): its
headers (velox.get_include()) and the C it needs (velox.get_sources("orderbook"): the book
readers the strategy calls). Nothing else from velox is linked: the pipeline calls the
strategy through the vx_user_stage table (velox/stage.h) it gets as a PyCapsule."""
import os

import numpy
import velox
from Cython.Build import cythonize
from setuptools import Extension, setup

ext = Extension(
    "velox_strategy._imbalance",
    ["velox_strategy/_imbalance.pyx", *velox.get_sources("orderbook")],
    include_dirs=[velox.get_include(), numpy.get_include()],
    define_macros=[("_GNU_SOURCE", None)],
    extra_compile_args=["-std=c11", "-O3"],
)
# where velox's .pxd files are (site-packages for a wheel; the checkout for an editable
# install, whose import hook Cython cannot follow)
pxd_root = os.path.dirname(os.path.dirname(os.path.abspath(velox.__file__)))
setup(ext_modules=cythonize([ext], language_level=3, include_path=[pxd_root]))
