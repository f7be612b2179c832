/* ticket_pdf_test.c - PDF tickets (lib/ticket_pdf.c): a valid PDF, one page per ticket */
#include <criterion/criterion.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "tix/ticket_pdf.h"
#include "tix/ticket_sign.h"

TestSuite(ticket_pdf, .fini = tix_ticket_pdf_cleanup);

static const struct tix_ticket_pdf_item ticket = {
    .ticket_id = "0b0e3a52-9f1c-4c1e-8f4e-2b7d2a6c9e01",
    .event_name = "Harbour Nights",
    .venue = "Hall",
    .starts = "Friday 5 June 2030, 21:00 (Europe/Paris)",
    .place = "stalls, row A, seat 3",
    .ticket_type = "Stalls",
    .holder = "Ana",
    .order_number = "ABCD-000001",
    .payload = "TIX1.eyJlIjoiMSJ9.c2lnbmF0dXJl",
};

/* Counts the occurrences of needle in the n bytes at p. */
static int count(const char *p, size_t n, const char *needle)
{
    int c = 0;
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= n; i++)
        c += memcmp(p + i, needle, k) == 0;
    return c;
}

Test(ticket_pdf, a_ticket_renders_as_a_one_page_pdf_naming_the_ticket)
{
    struct tix_buf out;
    struct tix_err err;
    tix_buf_init(&out, 0);
    cr_assert_eq(tix_ticket_pdf_render(&ticket, 1, &out, &err), TIX_OK, "%s", err.msg);
    cr_assert_gt(out.len, 1000);
    cr_assert(memcmp(out.ptr, "%PDF-", 5) == 0, "the header");
    cr_assert(strstr(out.ptr + out.len - 8, "%%EOF") != NULL, "the trailer: %s",
              out.ptr + out.len - 8);
    cr_assert_eq(count(out.ptr, out.len, "/Type /Page\n") + count(out.ptr, out.len, "/Type /Page "),
                 1, "one page");
    cr_assert_eq(count(out.ptr, out.len, ticket.ticket_id), 1, "the id in the metadata");
    tix_buf_deinit(&out);
}

Test(ticket_pdf, an_order_gets_one_page_per_ticket)
{
    struct tix_ticket_pdf_item two[2] = {ticket, ticket};
    two[1].ticket_id = "5d7c1b7e-3c4e-4d6a-9a51-0f5d3a2b1c77";
    two[1].place = "General admission";
    two[1].holder = "";
    struct tix_buf out;
    struct tix_err err;
    tix_buf_init(&out, 0);
    cr_assert_eq(tix_ticket_pdf_render(two, 2, &out, &err), TIX_OK, "%s", err.msg);
    cr_assert_eq(count(out.ptr, out.len, "/Count 2"), 1, "two pages");
    cr_assert_eq(count(out.ptr, out.len, two[0].ticket_id), 1);
    cr_assert_eq(count(out.ptr, out.len, two[1].ticket_id), 1);
    tix_buf_deinit(&out);
}

Test(ticket_pdf, nothing_to_print_or_a_payload_too_long_is_refused)
{
    struct tix_buf out;
    struct tix_err err;
    tix_buf_init(&out, 0);
    cr_assert_eq(tix_ticket_pdf_render(&ticket, 0, &out, &err), TIX_EINVAL);
    static char huge[4000];
    memset(huge, 'A', sizeof(huge) - 1);
    struct tix_ticket_pdf_item bad = ticket;
    bad.payload = huge;
    cr_assert_eq(tix_ticket_pdf_render(&bad, 1, &out, &err), TIX_EINVAL);
    tix_buf_deinit(&out);
}
