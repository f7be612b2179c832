/* ids.c - UUIDv7 ids, stable partitioning, clocks
 *
 * UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, version 7, 74 random bits. Partitioning uses
 * FNV-1a 64 because it is trivial to reimplement anywhere and never changes between releases:
 * the partition of a key is part of the data's identity once events are written.
 */
#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "tix/ids.h"

int64_t tix_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t tix_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t tix_mono_ms(void)
{
    return tix_mono_us() / 1000;
}

void tix_time_format(int64_t us, char out[32])
{
    time_t secs = (time_t)(us / 1000000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%06dZ", (int)(us % 1000000));
}

void tix_uuid_v7(char out[TIX_UUID_LEN + 1])
{
    unsigned char b[16];
    uint64_t ms = (uint64_t)(tix_now_us() / 1000);
    for (int i = 0; i < 6; i++)
        b[i] = (unsigned char)(ms >> (40 - 8 * i));
    randombytes_buf(b + 6, 10);
    tix_uuid_format(b, 7, out);
}

void tix_uuid_format(const unsigned char bytes[16], int version, char out[TIX_UUID_LEN + 1])
{
    unsigned char b[16];
    memcpy(b, bytes, sizeof(b));
    b[6] = (unsigned char)((version << 4) | (b[6] & 0x0f));
    b[8] = (unsigned char)(0x80 | (b[8] & 0x3f));
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 15];
    }
    out[o] = '\0';
}

bool tix_uuid_is_valid(const char *s)
{
    if (s == NULL || strlen(s) != TIX_UUID_LEN)
        return false;
    for (int i = 0; i < TIX_UUID_LEN; i++) {
        char c = s[i];
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (c != '-')
                return false;
        } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return false;
        }
    }
    return true;
}

uint64_t tix_fnv1a(const char *key, size_t len)
{
    uint64_t h = 14695981039346656037ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)key[i];
        h *= 1099511628211ULL;
    }
    return h;
}

uint32_t tix_partition_of(const char *key, size_t len, uint32_t n)
{
    return (uint32_t)(tix_fnv1a(key, len) % n);
}
