# one line per test: TESTS += test_x / TEST_DEPS_test_x = modules
TESTS += test_histogram
TEST_DEPS_test_histogram = histogram types
TESTS += test_shm
TEST_DEPS_test_shm = shm ring tsc types
TESTS += test_ring
TEST_DEPS_test_ring = ring tsc types
TESTS += test_orderbook
TEST_DEPS_test_orderbook = orderbook types
TESTS += test_pipeline
TEST_DEPS_test_pipeline = pipeline pipeline_source pipeline_book pipeline_bundler pipeline_sink stage_builtin orderbook ring histogram tsc types
TESTS += test_litmus_ring
TEST_DEPS_test_litmus_ring = ring tsc types
