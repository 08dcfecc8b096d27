/* relay_record.h -- a connect attempt's record as the relays read it: one
 * JSON object
 *
 *   {"nonce":"<32 hex>","obfs":"<64 hex>","realm":"<name>","expires":<ms>,
 *    "client_ips":["<ip>",...],"holder_ips":["<ip>",...]}
 *
 * (sql/connect_begin.lua writes it; sql/README.md). Hex is lowercase; an
 * IP that does not parse is skipped, but each side needs one; past
 * RELAY_IPS_MAX a side's IPs are ignored; other members are ignored. */
#ifndef RR_RELAY_RECORD_H
#define RR_RELAY_RECORD_H

#include <stddef.h>

#include "relay_table.h"

/* Parse the record json (len bytes, not NUL-terminated) into s. 0, or -1
 * with one line in err (errlen bytes). */
int relay_record_parse(const char *json, size_t len, struct relay_spec *s,
                       char *err, size_t errlen);

#endif
