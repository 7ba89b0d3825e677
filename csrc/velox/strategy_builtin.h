/*
 * velox/strategy_builtin.h — velox's own v2 strategies (strategy.h), as vx_strategy tables
 * whose state the create function allocates and vx_builtin_destroy frees (table and state are
 * one allocation). They use velox only through the vx_api their init receives.
 *
 * quote (name "quote"): a one-lot-per-side market maker that joins the best bid and ask.
 *   init reads api->arg "size" (lots, default 1) and "max_position" (lots, default 10):
 *   decimal digits only, 1 <= size <= 2^32-1, 1 <= max_position <= 2^62; anything else makes
 *   init return non-zero. Its NEW orders get ids 1, 2, 3, ... (one counter for all
 *   instruments, advanced by every NEW it sends, refused or not).
 *   on_market: for each instrument of the events (in order of first appearance; instruments >= api->instruments skipped), BUY then SELL:
 *     target = the best price of that side (api->best; none when the side is empty);
 *     `canceling` (its last canceled quote on that side) is forgotten when api->working no
 *     longer finds it; `current` (its quote on that side) is forgotten when api->working no
 *     longer finds it; found PENDING_CANCEL (the kill switch), it becomes `canceling`, or,
 *     when `canceling` is still set, nothing is done on this side this time;
 *     if current exists and its price != target (or there is no target): when `canceling` is
 *     still working nothing is done on this side this time; else it sends a CANCEL of
 *     current, which becomes `canceling` (refused: current is forgotten all the same);
 *     if no current (after the above) and a target exists: with p = api->position, a BUY of
 *     `size` is sent when |p.position + p.working_buy + size| <= max_position, a SELL when
 *     |p.position - p.working_sell - size| <= max_position: NEW LIMIT GTC of `size` at the
 *     target; on VX_REJECT_NONE it becomes current.
 *   So it has at most 2 working orders per side (4 per instrument).
 * script (name "script"): sends orders[i] (a copy, ts overwritten by now) at the first
 *   on_market whose now >= orders[i].ts, in array order, whatever the fields say (tests
 *   drive any order stream with it, hostile ones included). on_exec / on_timer / finish: none.
 */
#ifndef VELOX_STRATEGY_BUILTIN_H
#define VELOX_STRATEGY_BUILTIN_H

#include <stddef.h>
#include <stdint.h>

#include "velox/orders.h"
#include "velox/strategy.h"
#include "velox/types.h"

/* VX_EINVAL (instruments 0 or > 2^16, out NULL), VX_ENOMEM. */
vx_status vx_quote_create(uint32_t instruments, vx_strategy **out);
/* VX_EINVAL (orders NULL with n > 0, out NULL, n > 2^32), VX_ENOMEM. */
vx_status vx_script_create(const vx_order *orders, size_t n, vx_strategy **out);
/* Frees a table made by vx_quote_create / vx_script_create (NULL: nothing). */
void vx_builtin_destroy(vx_strategy *s);

#endif /* VELOX_STRATEGY_BUILTIN_H */
