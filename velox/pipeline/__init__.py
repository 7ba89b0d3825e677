"""velox.Pipeline and the ``python -m velox.pipeline`` / ``velox-pipeline`` command.

The pipeline runs natively (csrc/velox/pipeline.c): ingress -> order book -> bundler ->
output on pinned pthreads connected by SPSC rings. This package chooses the stage -> CPU
mapping, converts friendly options to the native configuration, drives the run from the
Python thread (periodic stats, draining bundles to a Python callback, stop/drain/join), and
reports: counters, rates, latency percentiles, memory, mapping and the conservation check.

One module per concern, shared by the command lines:

- ``_specs``: input/output/topology/stage specs and the CPU mapping, checked before a run;
- ``_sources``: the Python reader threads that feed file and shm: inputs to the native source;
- ``_driver``: the Pipeline class (configure, start, feed, poll, wait, stop);
- ``_drain``: bundles from the native python ring to the user's callback;
- ``_view``: the live view of the books (Pipeline.book);
- ``_report``: report dicts, the verdict and the human summaries;
- ``_config``: argparse options and TOML configuration files;
- ``_cli``: the command's entry point (``main``); ``__main__`` runs it.
"""

from __future__ import annotations

from velox.pipeline._specs import FILE_INPUTS as FILE_INPUTS
from velox.pipeline._specs import FINITE_INPUTS as FINITE_INPUTS
from velox.pipeline._specs import FIRST_CHUNK_BYTES as FIRST_CHUNK_BYTES
from velox.pipeline._specs import GROUPS as GROUPS
from velox.pipeline._specs import MBO_FILE_INPUTS as MBO_FILE_INPUTS
from velox.pipeline._specs import SHM_DEFAULT_CAPACITY as SHM_DEFAULT_CAPACITY
from velox.pipeline._specs import SHM_MAX_CAPACITY as SHM_MAX_CAPACITY
from velox.pipeline._specs import Cores as Cores
from velox.pipeline._specs import Topology as Topology
from velox.pipeline._specs import _check_first_records as _check_first_records
from velox.pipeline._specs import available_cpus as available_cpus
from velox.pipeline._specs import default_cores as default_cores
from velox.pipeline._specs import load_stage as load_stage
from velox.pipeline._specs import parse_cores as parse_cores
from velox.pipeline._specs import parse_input as parse_input
from velox.pipeline._specs import parse_output as parse_output
from velox.pipeline._specs import parse_topology as parse_topology
from velox.pipeline._specs import stage_mapping as stage_mapping
from velox.pipeline._sources import READER_JOIN_S as READER_JOIN_S
from velox.pipeline._sources import READER_POLL_MS as READER_POLL_MS
from velox.pipeline._sources import InputError as InputError
from velox.pipeline._drain import Callback as Callback
from velox.pipeline._view import BookView as BookView
from velox.pipeline._report import REPORT_HISTOGRAMS as REPORT_HISTOGRAMS
from velox.pipeline._report import _judge as _judge
from velox.pipeline._report import format_summary as format_summary
from velox.pipeline._config import DEFAULTS as DEFAULTS
from velox.pipeline._config import build_parser as build_parser
from velox.pipeline._config import parse_args as parse_args
from velox.pipeline._driver import Pipeline as Pipeline
from velox.pipeline._venue import LiveVenue as LiveVenue
from velox.pipeline._cli import EXIT_MISSING_SYMBOLS as EXIT_MISSING_SYMBOLS
from velox.pipeline._cli import main as main

__all__ = ["Pipeline", "LiveVenue", "InputError", "stage_mapping", "parse_topology", "default_cores",
           "parse_cores", "parse_output", "load_stage", "main"]
