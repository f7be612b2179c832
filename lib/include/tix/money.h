/* money.h - amounts in minor units shown as people read them
 *
 * Money is an integer count of the currency's minor unit plus its ISO 4217 code (DESIGN.md).
 * How many digits the minor unit has is the currency's own (ISO 4217's "minor unit"): two for
 * most, none for JPY or KRW, three for KWD or BHD. Pure and thread-safe.
 */
#ifndef TIX_MONEY_H
#define TIX_MONEY_H

#include <stddef.h>

/* Digits after the decimal point in currency's major unit: 0, 2 or 3 (2 for a code not listed
 * as otherwise, and for NULL). The code is compared case-insensitively. */
int tix_currency_exponent(const char *currency);

/* minor units of currency into out as "<CODE> <major>[.<digits>]", e.g. "EUR 45.00",
 * "JPY 1200", "KWD 1.250", "EUR -0.05"; truncated to size like snprintf. */
void tix_money_format(long long minor, const char *currency, char *out, size_t size);

#endif
