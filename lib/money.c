/* money.c - amounts in minor units shown as people read them (see money.h) */
#include <stdio.h>
#include <strings.h>

#include "tix/money.h"

/* ISO 4217 currencies whose minor unit is not a hundredth. */
static const struct {
    const char *code;
    int exponent;
} unusual[] = {
    {"BIF", 0}, {"CLP", 0}, {"DJF", 0}, {"GNF", 0}, {"ISK", 0}, {"JPY", 0}, {"KMF", 0}, {"KRW", 0},
    {"PYG", 0}, {"RWF", 0}, {"UGX", 0}, {"UYI", 0}, {"VND", 0}, {"VUV", 0}, {"XAF", 0}, {"XOF", 0},
    {"XPF", 0}, {"BHD", 3}, {"IQD", 3}, {"JOD", 3}, {"KWD", 3}, {"LYD", 3}, {"OMR", 3}, {"TND", 3},
};

int tix_currency_exponent(const char *currency)
{
    for (size_t i = 0; currency != NULL && i < sizeof(unusual) / sizeof(unusual[0]); i++)
        if (strcasecmp(currency, unusual[i].code) == 0)
            return unusual[i].exponent;
    return 2;
}

void tix_money_format(long long minor, const char *currency, char *out, size_t size)
{
    int exponent = tix_currency_exponent(currency);
    long long scale = exponent == 3 ? 1000 : exponent == 2 ? 100 : 1;
    /* the magnitude as unsigned: -LLONG_MIN does not fit a long long */
    unsigned long long abs =
        minor < 0 ? 0ULL - (unsigned long long)minor : (unsigned long long)minor;
    const char *sign = minor < 0 ? "-" : "";
    const char *code = currency != NULL ? currency : "";
    if (exponent == 0)
        snprintf(out, size, "%s %s%llu", code, sign, abs);
    else
        snprintf(out, size, "%s %s%llu.%0*llu", code, sign, abs / (unsigned long long)scale,
                 exponent, abs % (unsigned long long)scale);
}
