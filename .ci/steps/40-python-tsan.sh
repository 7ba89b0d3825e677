#!/usr/bin/env bash
# CI step: the multi-threaded Python tests against extensions built with ThreadSanitizer
# (VELOX_SANITIZE=thread, which also defines VELOX_DEBUG).
#
#   bash .ci/steps/40-python-tsan.sh            (build ~2 min + tests, on 2 cores)
#
# Which Python, and why: TSan must be loaded first (LD_PRELOAD of libtsan) into an interpreter
# that tolerates it. pyenv's CPython 3.11.7 segfaults at start-up under libtsan even for
# `python -c "print(1)"`; Debian's /usr/bin/python3 (3.11.2) runs fine. So this step makes a
# venv from /usr/bin/python3 (installing python3-venv python3-dev via apt when missing), pip
# installs the build/test deps into it, builds in a copy of the tree and runs the tests in
# which velox code runs on several threads at once (the list below, and why each is there).
# Override the interpreter with $VELOX_TSAN_PYTHON.
#
# Suppressions: .ci/tsan.supp, narrow and only for CPython/NumPy internals (never a velox
# frame); TSan halts on the first report (halt_on_error=1) and the step fails.
set -euo pipefail
cd "$(dirname "$0")/../.."
. .ci/steps/common.inc
secondary_scale

start=$(date +%s)
base_py=${VELOX_TSAN_PYTHON:-/usr/bin/python3}
if [ "$base_py" = /usr/bin/python3 ]; then
    need_apt python3-venv python3-dev
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/velox-tsan.XXXXXX")
trap 'rm -rf "$work"' EXIT
copy_tree "$work/src"
# Always a fresh venv from base_py: python_with_deps would reuse a system python's packages.
"$base_py" -m venv "$work/venv"
py="$work/venv/bin/python"
# -U setuptools: the venv starts with the distro's bundled setuptools (66 on Debian 12),
# too old for the PEP 621 metadata in pyproject.toml.
# databento-dbn + zstandard: tests/test_feeds_dbn.py (threaded readers) needs its oracle below 3.13.
"$py" -m pip install -q -U "numpy>=2.0" "Cython>=3.0.8,<4" "setuptools>=77" pytest hypothesis \
    "databento-dbn>=0.40; python_version < '3.13'" "zstandard>=0.22; python_version < '3.13'" 2>&1 \
    | { grep -v "^WARNING: Location" || true; }
supp="$PWD/.ci/tsan.supp"
cd "$work/src"

echo "+ VELOX_SANITIZE=thread $py setup.py build_ext --inplace (in $work/src)"
VELOX_SANITIZE=thread "$py" setup.py -q build_ext --inplace --build-temp build/tsan >build.log 2>&1 \
    || { tail -50 build.log; exit 1; }

libtsan=$(${CC:-gcc} -print-file-name=libtsan.so)
[ -f "$libtsan" ] || { echo "libtsan.so not found ($libtsan)" >&2; exit 1; }
# Which tests: those in which velox code runs on two or more threads of this process at once,
# the only ones in which TSan can see a race (a single-threaded test, a model or fuzz test, a
# refusal before the run, a test whose work is in child processes: there is nothing for TSan
# to relate; all of them run in the README run, the ASan step and the matrix). Named test by
# test (pytest fails on a name that no longer exists, so a rename shows up here):
#  - every lock-free structure's stress test with threads: SPSC ring (also in shared memory),
#    TxnRing, broadcast (gated and lapped readers), MPSC, L2 book (CAS writers + polling
#    reader), MBO book (reader during apply, the writer/exclusive guard), journal readers,
#    the free-threading file, the SPSC misuse guard (test_debug_guard.py: child Pythons, also
#    under TSan, against this debug build);
#  - the file readers' thread paths (FIFO / pipe readers) and the DBN readers on threads;
#  - the pipeline: one run per concurrency feature of the native threads (block and drop
#    hand-offs, every topology, spinning and backoff, the callback drain thread, teardown of a
#    running pipeline, the live views read during a run and during recentering, the journal
#    drain and input tap, the shm: watcher, a file reader thread, user stages, the strategy
#    thread with its log drain and a live gateway, the simulated venue driven by the book
#    thread in each thread layout and paced), not each file's refusals and CLI runs.
tsan_tests=(
    tests/test_ring.py::test_blocking_push_item_copied_before_wait
    tests/test_ring.py::test_signal_interrupts_blocking_pop
    tests/test_ring_threads.py
    tests/test_txnring.py::test_blocking_pop_validates_and_returns_transactions
    tests/test_txnring.py::test_two_threads_move_every_transaction_once_in_order
    tests/test_txnring.py::test_two_threads_mixed_valid_and_invalid_records
    tests/test_shm_hostile.py::test_attach_timeout_covers_waiting_for_the_segment
    tests/test_shm_hostile.py::test_blocking_push_many_pushes_all_through_a_small_ring
    tests/test_shm_hostile.py::test_blocking_pop_many_min_n
    tests/test_shm_hostile.py::test_pipeline_output_into_a_corrupted_shared_ring
    tests/test_broadcast.py::test_blocking_read_times_out_and_wakes
    tests/test_broadcast.py::test_gated_threads_lose_nothing
    tests/test_broadcast.py::test_close_refused_while_a_reader_waits
    tests/test_broadcast_hostile.py::test_fuzzed_live_segment_never_crashes_a_reader
    tests/test_mpsc.py::test_producer_threads_every_record_checked
    tests/test_orderbook.py::test_concurrent_writers_conserve_quantity_while_reader_polls
    tests/test_orderbook.py::test_set_many_from_threads_on_disjoint_levels_while_reader_polls
    tests/test_mbo.py::test_reader_thread_during_apply_many
    tests/test_mbo_contract.py::test_a_second_writer_is_refused_not_a_crash
    tests/test_mbo_contract.py::test_exclusive_calls_are_refused_while_a_writer_is_inside
    tests/test_mbo_contract.py::test_reserve_is_refused_while_a_reader_is_inside
    tests/test_mbo_contract.py::test_the_crashing_misuses_raise_instead
    tests/test_journal.py::test_reader_thread_gil_released
    tests/test_journal.py::test_second_thread_on_one_reader_is_refused
    tests/test_free_threading.py
    tests/test_debug_guard.py
    tests/test_feeds_input.py::test_lobster_gzip_bomb_is_not_decompressed_whole
    tests/test_feeds_input.py::test_itch_from_a_pipe
    tests/test_feeds_input.py::test_lobster_from_a_fifo
    tests/test_feeds_fuzz.py::test_fifo_inputs
    tests/test_feeds_dbn.py::test_fifo_stream_and_chunking
    tests/test_feeds_dbn.py::test_readers_on_threads_check_every_event
    tests/test_pipeline.py::test_block_mode_conserves_and_same_seed_gives_same_output_and_book
    tests/test_pipeline.py::test_drop_mode_conserves_with_tiny_rings
    tests/test_pipeline.py::test_any_topology_conserves_and_writes_the_same_bytes
    tests/test_pipeline.py::test_default_cores_leave_the_first_cpu_to_python_and_spin
    tests/test_pipeline.py::test_topology_and_cores_are_exclusive_and_unpinned_threads_back_off
    tests/test_pipeline.py::test_callback_gets_every_bundle_on_the_driver_thread
    tests/test_pipeline.py::test_callback_drain_thread_loses_nothing_without_poll_in_block_mode
    tests/test_pipeline.py::test_callback_exception_on_the_drain_thread_is_raised_by_stop
    tests/test_pipeline.py::test_dropping_a_running_pipeline_joins_its_threads_before_closing_the_fd
    tests/test_pipeline_sources.py::test_feed_counts_every_record
    tests/test_pipeline_sources.py::test_live_book_view_while_running_and_after
    tests/test_pipeline_sources.py::test_events_file_replays_identically_and_drives_a_stage
    tests/test_pipeline_lifecycle.py::test_fifo_input_events_reach_the_book_and_stop_returns
    tests/test_pipeline_lifecycle.py::test_fifo_with_no_writer_does_not_block_the_stop
    tests/test_pipeline_lifecycle.py::test_a_file_input_never_drops_whatever_the_topology_or_on_full
    tests/test_pipeline_mbo.py::test_lobster_replay_builds_the_direct_replays_book_and_feeds_the_stage
    tests/test_pipeline_mbo.py::test_feed_of_mbo_events_and_a_live_view_while_it_runs
    tests/test_pipeline_mbo.py::test_itch_replay_gives_each_symbol_its_own_book
    tests/test_pipeline_follow.py::test_pipeline_follows_a_drift_of_many_windows
    tests/test_pipeline_follow.py::test_pipeline_live_view_polls_while_the_books_recenter
    tests/test_pipeline_journal.py::test_synthetic_run_journals_and_replays_byte_identical
    tests/test_pipeline_journal.py::test_journal_with_a_callback_gives_it_every_bundle
    tests/test_pipeline_journal.py::test_block_mode_tap_holds_the_book_back_until_drained
    tests/test_pipeline_journal.py::test_drop_mode_tap_counts_what_did_not_fit
    tests/test_pipeline_shm.py::test_external_spsc_ring_drained_by_a_thread
    tests/test_pipeline_shm.py::test_the_ring_cannot_be_closed_under_a_running_pipeline
    tests/test_pipeline_shm.py::test_pipeline_dropped_without_stop_cleans_up
    tests/test_pipeline_shm_source.py::test_shm_source_counts_every_record_and_matches_a_feed_run
    tests/test_pipeline_shm_source.py::test_stop_during_a_paced_replay_stops_feeding_at_once
    tests/test_pipeline_stage.py::test_echo_stage_conserves_in_both_modes
    tests/test_pipeline_stage.py::test_several_stages_run_in_order_over_the_same_events
    tests/test_pipeline_stage.py::test_hostile_stages_are_counted_never_trusted
    tests/test_pipeline_stage.py::test_a_capsule_that_owns_its_table_lives_as_long_as_the_pipeline
    tests/test_pipeline_strategy.py::test_every_order_and_report_end_to_end
    tests/test_pipeline_strategy.py::test_reports_reach_the_strategy_while_the_market_is_quiet
    tests/test_pipeline_sim.py::test_paced_replay_matches_the_backtest
    tests/test_pipeline_sim.py::test_every_topology_matches_the_backtest
)
export LD_PRELOAD="$libtsan"
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 suppressions=$supp"
export PYTHONPATH="$PWD/tests/native"
# The modules under test are this copy's, instrumented, and in debug mode (guards on).
for so in velox/*.so; do
    nm -D "$so" | grep ' U __tsan_init' >/dev/null || { echo "$so is not built with TSan" >&2; exit 1; }
done
"$py" -c "import velox, velox._ring as r; assert velox.__file__.startswith('$PWD'), velox.__file__
assert r.DEBUG_CHECKS, 'not a VELOX_DEBUG build'"
echo "+ LD_PRELOAD=$libtsan $py -m pytest (${#tsan_tests[@]} tests and files, TSan build)"
"$py" -m pytest -q -x -p sanitizer_plugin -p no:cacheprovider "${tsan_tests[@]}"
echo "40-python-tsan: passed in $(( $(date +%s) - start )) s"
