/* test_types.c — record layout and validation. */
#include "check.h"
#include "velox/types.h"

#include <string.h>

static void test_layout(void) {
    CHECK(sizeof(vx_txn) == 32);
    CHECK(sizeof(vx_bundle) == 528);
    CHECK(VX_TXN_OFFSET_QTY == 24);
    CHECK(VX_BUNDLE_OFFSET_TXNS == 16);
}

static void test_txn_validate(void) {
    vx_txn t;
    memset(&t, 0, sizeof t);
    CHECK(vx_txn_validate(&t) == VX_FIELD_NONE);
    t.side = VX_SELL;
    t.kind = VX_CANCEL;
    CHECK(vx_txn_validate(&t) == VX_FIELD_NONE);
    t.side = 2;
    CHECK(vx_txn_validate(&t) == VX_FIELD_SIDE);
    t.side = VX_BUY;
    t.kind = 7;
    CHECK(vx_txn_validate(&t) == VX_FIELD_KIND);
    t.kind = VX_NEW;
    t.pad[1] = 1; /* padding is ignored on input */
    CHECK(vx_txn_validate(&t) == VX_FIELD_NONE);
}

static void test_bundle_validate(void) {
    vx_bundle b;
    int idx = 99;
    memset(&b, 0, sizeof b);
    CHECK(vx_bundle_validate(&b, &idx) == VX_FIELD_NONE && idx == -1);
    b.header.count = 17;
    CHECK(vx_bundle_validate(&b, &idx) == VX_FIELD_COUNT);
    b.header.count = 2;
    b.txns[1].side = 9;
    CHECK(vx_bundle_validate(&b, &idx) == VX_FIELD_TXNS && idx == 1);
    b.txns[1].side = VX_SELL;
    b.txns[5].side = 9; /* beyond count: ignored */
    CHECK(vx_bundle_validate(&b, NULL) == VX_FIELD_NONE);
}

static void test_status_names(void) {
    CHECK(strcmp(vx_status_name(VX_OK), "ok") == 0);
    CHECK(strcmp(vx_status_name(VX_FULL), "full") == 0);
    CHECK(strcmp(vx_status_name((vx_status)999), "unknown status") == 0);
}

int main(void) {
    RUN(test_layout);
    RUN(test_txn_validate);
    RUN(test_bundle_validate);
    RUN(test_status_names);
    return CHECK_SUMMARY("test_types");
}
