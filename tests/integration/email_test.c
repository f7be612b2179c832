/* email_test.c - the email worker against a real SMTP server (MailDev) and the real stack
 *
 * Real gateway, processor, projector and tixmo-email; the SMTP server is the MailDev stand-in
 * scripts/test starts (TIXMO_SMTP_URL), read back through its REST API (TIX_MAILDEV_URL/email).
 * The worker reaches it through a relay in this test (a TCP forwarder on a port of its own), so
 * a test can take SMTP down (every connection closed at once, before the server's greeting)
 * and bring it back. The relay keeps its port for the whole suite: a port given up could be
 * taken meanwhile by some process's outgoing connection.
 *
 * A registration mails a link whose token verifies the address; a paid order mails the buyer a
 * confirmation with one PDF holding every ticket; a ticket offered to an address mails that
 * address (sealed under the sender's key), and once accepted the recipient gets the ticket; an
 * event delivered again mails nothing new, unless its record says the worker handed the mail over
 * without learning the outcome: then it goes again under the same Message-ID; a mail asked for
 * while SMTP is down arrives once it is back. GET /tickets/{id}/pdf answers the holder only.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client.h"
#include "harness.h"
#include "http.h"
#include "shop.h"
#include "tix/buf.h"
#include "tix/bus.h"
#include "tix/ids.h"
#include "tix/json.h"

static struct tix_test_stack stack;
static struct tix_db *db;

/* ---- the SMTP relay ------------------------------------------------------------------------ */

static struct {
    pthread_t thread;
    int port; /* where the worker sends */
    int listener;
    atomic_bool is_up;  /* false: SMTP is down */
    atomic_bool is_end; /* stop the thread */
    struct sockaddr_in target;
} relay;

static int listen_on(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0, "relay bind");
    cr_assert_eq(listen(fd, 8), 0);
    return fd;
}

/* Pumps bytes between the worker's connection and MailDev until either side closes. */
static void pump(int client)
{
    int server = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(server, (struct sockaddr *)&relay.target, sizeof(relay.target)) != 0) {
        close(server);
        close(client);
        return;
    }
    struct pollfd p[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
    char buf[16384];
    for (bool is_open = true; is_open && !relay.is_end;) {
        if (poll(p, 2, 200) <= 0)
            continue;
        for (int i = 0; i < 2 && is_open; i++) {
            if (p[i].revents == 0)
                continue;
            ssize_t n = read(p[i].fd, buf, sizeof(buf));
            is_open = n > 0 && write(p[1 - i].fd, buf, (size_t)n) == n;
        }
    }
    close(server);
    close(client);
}

static void *relay_main(void *arg)
{
    (void)arg;
    while (!relay.is_end) {
        struct pollfd p = {relay.listener, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0)
            continue;
        int client = accept(relay.listener, NULL, NULL);
        if (client >= 0 && relay.is_up)
            pump(client);
        else if (client >= 0)
            close(client);
    }
    close(relay.listener);
    return NULL;
}

static void relay_start(void)
{
    const char *smtp = tix_test_env("TIXMO_SMTP_URL"); /* smtp://127.0.0.1:PORT */
    const char *colon = strrchr(smtp, ':');
    relay.target =
        (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
    relay.target.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = listen_on(0); /* a free port, kept for the whole suite */
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    getsockname(fd, (struct sockaddr *)&a, &len);
    relay.port = ntohs(a.sin_port);
    relay.listener = fd;
    relay.is_up = true;
    pthread_create(&relay.thread, NULL, relay_main, NULL);
}

/* ---- MailDev ------------------------------------------------------------------------------- */

static size_t collect_cb(char *data, size_t size, size_t n, void *arg)
{
    return tix_buf_append(arg, data, size * n) == TIX_OK ? size * n : 0;
}

/* GETs MailDev's path into out (caller deinits). */
static void maildev_get(const char *path, struct tix_buf *out)
{
    char url[512];
    snprintf(url, sizeof(url), "%s%s", tix_test_env("TIX_MAILDEV_URL"), path);
    tix_buf_init(out, 0);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    long status = 0;
    cr_assert_eq(curl_easy_perform(c), CURLE_OK, "maildev %s", url);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    cr_assert_eq(status, 200, "maildev %s: %ld", url, status);
}

/* The mails MailDev holds for address (a new array). */
static json_t *mails_to(const char *address)
{
    struct tix_buf b;
    maildev_get("/email", &b);
    json_t *all = tix_json_parse(b.ptr, b.len, NULL), *mine = json_array();
    tix_buf_deinit(&b);
    cr_assert(json_is_array(all));
    size_t i;
    json_t *m;
    json_array_foreach(all, i, m)
    {
        const char *to = tix_json_str(json_array_get(json_object_get(m, "to"), 0), "address");
        if (to != NULL && strcmp(to, address) == 0)
            json_array_append(mine, m);
    }
    json_decref(all);
    return mine;
}

/* Waits (timeout_ms at most) until address has want mails; returns them (a new array). */
static json_t *wait_mails(const char *address, size_t want, int timeout_ms)
{
    for (int waited = 0;; waited += 200) {
        json_t *mine = mails_to(address);
        if (json_array_size(mine) >= want || waited >= timeout_ms)
            return mine;
        json_decref(mine);
        usleep(200000);
    }
}

/* ---- the suite ----------------------------------------------------------------------------- */

static void start(void)
{
    cr_assert(sodium_init() >= 0);
    curl_global_init(CURL_GLOBAL_ALL);
    db = tix_test_db("TIXMO_DB_URL");
    relay_start();
    static const char *const stack_env[] = {"TIXMO_RL_AUTH_PER_IP=100000",
                                            "TIXMO_RL_HOLDS_PER_USER=100000", NULL};
    tix_test_stack_start(&stack, stack_env);
    char smtp[64];
    snprintf(smtp, sizeof(smtp), "TIXMO_SMTP_URL=smtp://127.0.0.1:%d", relay.port);
    const char *worker_env[] = {smtp, "TIXMO_SMTP_TIMEOUT_MS=5000", NULL};
    stack.worker = tix_test_spawn("tixmo-email", worker_env);
}

static void stop(void)
{
    tix_test_stack_stop(&stack);
    relay.is_end = true;
    pthread_join(relay.thread, NULL);
    tix_db_close(db);
}

TestSuite(email, .init = start, .fini = stop, .timeout = 240);

/* A fresh address "<name>-<random>@example.org" into email. */
static void fresh_address(const char *name, char email[96])
{
    unsigned char raw[6];
    char hex[13];
    randombytes_buf(raw, sizeof(raw));
    sodium_bin2hex(hex, sizeof(hex), raw, sizeof(raw));
    snprintf(email, 96, "%s-%s@example.org", name, hex);
}

/* Registers a user with a fresh address (into email); returns the user's id in id. */
static void register_user(const char *name, char email[96], char id[TIX_UUID_LEN + 1])
{
    fresh_address(name, email);
    tix_shop_register(db, email, "a long passphrase 42", name, id);
}

/* The token of the link "<app>/<page>?token=..." in text, into out. */
static void link_token(const char *text, const char *page, char *out, size_t size)
{
    char needle[64];
    snprintf(needle, sizeof(needle), "/%s?token=", page);
    const char *p = strstr(text, needle);
    cr_assert(p != NULL, "no %s link in: %s", page, text);
    p += strlen(needle);
    size_t n = strcspn(p, " \r\n\"<");
    int len = 0;
    char *plain = curl_easy_unescape(NULL, p, (int)n, &len);
    snprintf(out, size, "%s", plain);
    curl_free(plain);
}

Test(email, a_registration_mails_a_link_that_verifies_the_address)
{
    char email[96], user[TIX_UUID_LEN + 1], token[200];
    register_user("ana", email, user);
    json_t *mails = wait_mails(email, 1, 20000);
    cr_assert_eq(json_array_size(mails), 1, "one verify mail");
    json_t *m = json_array_get(mails, 0);
    cr_assert_str_eq(tix_json_str(m, "subject"), "Confirm your email address");
    const char *text = tix_json_str(m, "text");
    cr_assert(strstr(text, "Hello ana,") != NULL, "%s", text);
    cr_assert(strstr(tix_json_str(m, "html"), "verify-email?token=") != NULL);
    cr_assert_str_eq(tix_json_str(json_array_get(json_object_get(m, "from"), 0), "address"),
                     tix_test_env("TIXMO_MAIL_FROM"));
    link_token(text, "verify-email", token, sizeof(token));
    cr_assert(strncmp(token, user, TIX_UUID_LEN) == 0, "the token is the user's: %s", token);
    json_decref(mails);
    tix_shop_verify(db, token, user);
    const char *p[] = {user};
    cr_assert_eq(tix_test_scalar(db,
                                 "SELECT count(*) FROM email_messages WHERE subject_id = $1 AND "
                                 "kind = 'verify_email' AND status = 'sent'",
                                 1, p),
                 1);
}

/* Publishes the log's event of type for stream again, as the relay did; under a new event id
 * when new_id is not NULL (another request of the same kind). */
static void republish(const char *stream, const char *type, const char *new_id)
{
    const char *p[] = {stream, type, new_id};
    PGresult *res = NULL;
    struct tix_err err;
    cr_assert_eq(tix_db_exec(db,
                             "SELECT json_build_object('event_id', COALESCE($3::uuid, event_id), "
                             "'type', type, 'stream_id', stream_id, 'data', data, 'metadata', "
                             "metadata)::text, COALESCE($3::uuid, event_id)::text FROM events "
                             "WHERE stream_id = $1 AND type = $2",
                             3, p, &res, &err),
                 TIX_OK, "%s", err.msg);
    cr_assert_eq(PQntuples(res), 1);
    struct tix_bus *bus = NULL;
    cr_assert_eq(tix_bus_open(tix_test_env("TIXMO_AMQP_URL"), "email-test", &bus, &err), TIX_OK);
    struct tix_bus_props props = {.message_id = PQgetvalue(res, 0, 1)};
    const char *body = PQgetvalue(res, 0, 0);
    cr_assert_eq(
        tix_bus_publish(bus, TIX_BUS_EVENTS_EXCHANGE, type, true, &props, body, strlen(body), &err),
        TIX_OK, "%s", err.msg);
    cr_assert_eq(tix_bus_wait_confirms(bus, 10000, &err), TIX_OK, "%s", err.msg);
    tix_bus_close(bus);
    PQclear(res);
}

static bool is_queue_empty(void *ctx)
{
    (void)ctx;
    struct tix_bus *bus = NULL;
    struct tix_err err;
    cr_assert_eq(tix_bus_open(tix_test_env("TIXMO_AMQP_URL"), "email-test", &bus, &err), TIX_OK);
    long depth = tix_bus_queue_depth(bus, TIX_BUS_EMAILS_QUEUE, &err);
    tix_bus_close(bus);
    return depth == 0;
}

Test(email, an_event_delivered_again_sends_no_second_mail)
{
    char email[96], user[TIX_UUID_LEN + 1], stream[64];
    register_user("bo", email, user);
    json_t *mails = wait_mails(email, 1, 20000);
    cr_assert_eq(json_array_size(mails), 1);
    json_decref(mails);
    snprintf(stream, sizeof(stream), "user-%s", user);
    republish(stream, "user.email_verification_requested", NULL);
    cr_assert(tix_test_wait(is_queue_empty, NULL, 15000));
    sleep(2); /* the worker took it: give a wrong second mail time to arrive */
    mails = mails_to(email);
    cr_assert_eq(json_array_size(mails), 1, "still one mail after the redelivery");
    json_decref(mails);
}

/* The Message-ID header of MailDev's mail m. */
static const char *message_id_of(const json_t *m)
{
    const char *id = tix_json_str(json_object_get(m, "headers"), "message-id");
    return id != NULL ? id : "";
}

Test(email, a_mail_whose_send_was_not_recorded_goes_again_under_the_same_message_id)
{
    char email[96], user[TIX_UUID_LEN + 1], stream[64], want[160];
    register_user("di", email, user);
    json_t *mails = wait_mails(email, 1, 20000);
    cr_assert_eq(json_array_size(mails), 1);
    const char *p[] = {user};
    tix_test_wait_scalar(db,
                         "SELECT count(*) FROM email_messages WHERE subject_id = $1 AND status = "
                         "'sent' AND attempts = 1 AND sent_at IS NOT NULL",
                         user, 1, 10000);
    /* as if the worker died after the server's answer, before marking the row sent */
    cr_assert_eq(tix_test_scalar(db,
                                 "WITH u AS (UPDATE email_messages SET status = 'sending' WHERE "
                                 "subject_id = $1 RETURNING 1) SELECT count(*) FROM u",
                                 1, p),
                 1);
    snprintf(stream, sizeof(stream), "user-%s", user);
    republish(stream, "user.email_verification_requested", NULL);
    json_t *again = wait_mails(email, 2, 20000);
    cr_assert_eq(json_array_size(again), 2, "the mail went again");
    const json_t *first = json_array_get(mails, 0), *second = json_array_get(again, 1);
    snprintf(want, sizeof(want), "<verify_email.");
    cr_assert(strncmp(message_id_of(first), want, strlen(want)) == 0, "%s", message_id_of(first));
    cr_assert_str_eq(message_id_of(second), message_id_of(first), "receivers dedup by this id");
    cr_assert_str_eq(tix_json_str(second, "subject"), tix_json_str(first, "subject"));
    tix_test_wait_scalar(db,
                         "SELECT count(*) FROM email_messages WHERE subject_id = $1 AND status = "
                         "'sent' AND attempts = 2",
                         user, 1, 10000);
    /* now recorded as sent: a further delivery sends nothing */
    republish(stream, "user.email_verification_requested", NULL);
    cr_assert(tix_test_wait(is_queue_empty, NULL, 15000));
    sleep(2);
    json_t *still = mails_to(email);
    cr_assert_eq(json_array_size(still), 2);
    json_decref(still);
    json_decref(again);
    json_decref(mails);
}

Test(email, a_mail_asked_for_while_smtp_is_down_arrives_once_it_is_back)
{
    char email[96], user[TIX_UUID_LEN + 1], body[400];
    register_user("cy", email, user);
    json_t *mails = wait_mails(email, 1, 20000);
    cr_assert_eq(json_array_size(mails), 1);
    json_decref(mails);
    relay.is_up = false;
    usleep(300000);
    snprintf(body, sizeof(body), "{\"email\":\"%s\"}", email);
    struct tix_http_resp r;
    long status = tix_http("POST", "/api/v1/auth/forgot-password", NULL, body, tix_shop_wait5, &r);
    cr_assert(status == 200 || status == 202, "%ld: %s", status, r.body);
    tix_http_resp_deinit(&r);
    mails = wait_mails(email, 2, 4000);
    cr_assert_eq(json_array_size(mails), 1, "SMTP is down: nothing yet");
    json_decref(mails);
    relay.is_up = true;
    mails = wait_mails(email, 2, 30000);
    cr_assert_eq(json_array_size(mails), 2, "the reset mail once SMTP is back");
    const json_t *reset = json_array_get(mails, 1);
    cr_assert_str_eq(tix_json_str(reset, "subject"), "Reset your TixMo password");
    char token[200];
    link_token(tix_json_str(reset, "text"), "reset-password", token, sizeof(token));
    json_decref(mails);
    snprintf(body, sizeof(body), "{\"token\":\"%s\",\"password\":\"another long passphrase\"}",
             token);
    cr_assert_eq(tix_http("POST", "/api/v1/auth/reset-password", NULL, body, tix_shop_wait5, &r),
                 200, "%s", r.body);
    tix_http_resp_deinit(&r);
}

/* ---- tickets ------------------------------------------------------------------------------- */

/* An event on sale at a venue in Paris with a general-admission type; ids into event, type. */
static void open_sale(struct tix_shop *s, char event[TIX_UUID_LEN + 1], char type[TIX_UUID_LEN + 1])
{
    char venue[TIX_UUID_LEN + 1], body[768];
    tix_shop_open(s);
    tix_shop_venue(s, s->tag, NULL, venue);
    snprintf(body, sizeof(body),
             "{\"name\":\"Mail Night %s\",\"category\":\"concert\",\"venue_id\":\"%s\","
             "\"chart_version\":0,\"timezone\":\"Europe/Paris\",\"visibility\":\"public\","
             "\"capacity\":100,\"sessions\":[{\"starts_at\":\"2030-06-05T19:00:00Z\","
             "\"ends_at\":\"2030-06-05T22:00:00Z\"}]}",
             s->tag, venue);
    tix_shop_event(s, body, event);
    cr_assert_eq(tix_shop_act(s, s->promoter, event, "publish", NULL), 200);
    cr_assert_eq(tix_shop_act(s, s->promoter, event, "open-sales", NULL), 200);
    tix_shop_type(s->promoter, event,
                  "{\"name\":\"Floor\",\"kind\":\"general_admission\",\"price_minor\":2000,"
                  "\"currency\":\"EUR\",\"quantity\":50}",
                  type);
}

/* The one mail of mails with a PDF attachment: its bytes into pdf (caller deinits). */
static void attachment_of(const json_t *mail, struct tix_buf *pdf)
{
    const json_t *atts = json_object_get(mail, "attachments");
    cr_assert_eq(json_array_size(atts), 1, "one attachment");
    const json_t *a = json_array_get(atts, 0);
    cr_assert_str_eq(tix_json_str(a, "contentType"), "application/pdf");
    char path[300];
    snprintf(path, sizeof(path), "/email/%s/attachment/%s", tix_json_str(mail, "id"),
             tix_json_str(a, "generatedFileName"));
    maildev_get(path, pdf);
    cr_assert(pdf->len > 5 && memcmp(pdf->ptr, "%PDF-", 5) == 0, "a PDF");
}

static bool has(const struct tix_buf *b, const char *needle)
{
    return memmem(b->ptr, b->len, needle, strlen(needle)) != NULL;
}

/* GET /tickets/{id}/pdf as token: the status. */
static long get_pdf(const char *ticket, const char *token, struct tix_http_resp *r)
{
    char path[200];
    snprintf(path, sizeof(path), "/api/v1/tickets/%s/pdf", ticket);
    return tix_http("GET", path, token, NULL, NULL, r);
}

/* The printable ticket answers its holder only. */
static void expect_pdf_route(const char *ticket, const char *holder, const struct tix_shop *s)
{
    struct tix_http_resp r;
    cr_assert_eq(get_pdf(ticket, holder, &r), 200, "%s", r.body);
    cr_assert_str_eq(r.content_type, "application/pdf");
    cr_assert(memcmp(r.body, "%PDF-", 5) == 0);
    tix_http_resp_deinit(&r);
    char stranger_id[TIX_UUID_LEN + 1];
    tix_uuid_v7(stranger_id);
    char *stranger = tix_test_token(stranger_id, 600);
    const char *others[] = {stranger, s->owner, s->scanner};
    for (size_t i = 0; i < 3; i++) {
        get_pdf(ticket, others[i], &r);
        tix_shop_expect_problem(&r, 404, NULL);
        tix_http_resp_deinit(&r);
    }
    free(stranger);
    get_pdf("not-a-ticket", holder, &r);
    tix_shop_expect_problem(&r, 404, NULL);
    tix_http_resp_deinit(&r);
    get_pdf(ticket, NULL, &r);
    tix_shop_expect_problem(&r, 401, NULL);
    tix_http_resp_deinit(&r);
}

/* The ids of the order's tickets (2) into ids. */
static void order_tickets(const char *order, char ids[2][TIX_UUID_LEN + 1])
{
    tix_test_wait_scalar(db, "SELECT count(*) FROM rm.tickets WHERE order_id = $1", order, 2,
                         15000);
    const char *p[] = {order};
    PGresult *res = NULL;
    struct tix_err err;
    cr_assert_eq(tix_db_exec(db, "SELECT id FROM rm.tickets WHERE order_id = $1 ORDER BY id", 1, p,
                             &res, &err),
                 TIX_OK);
    for (int i = 0; i < 2; i++)
        snprintf(ids[i], TIX_UUID_LEN + 1, "%s", PQgetvalue(res, i, 0));
    PQclear(res);
}

/* Registers name under the address email (given) and verifies it through its mail's link. */
static void register_verified(const char *name, const char *email, char id[TIX_UUID_LEN + 1])
{
    char token[200];
    tix_shop_register(db, email, "a long passphrase 42", name, id);
    json_t *mails = wait_mails(email, 2, 30000); /* the offer's mail came first */
    cr_assert_eq(json_array_size(mails), 2, "the offer and the verify mail");
    link_token(tix_json_str(json_array_get(mails, 1), "text"), "verify-email", token,
               sizeof(token));
    json_decref(mails);
    tix_shop_verify(db, token, id);
}

Test(email, a_paid_order_mails_the_tickets_as_one_pdf_and_a_transfer_mails_the_recipient)
{
    struct tix_shop s;
    char event[TIX_UUID_LEN + 1], type[TIX_UUID_LEN + 1], order[TIX_UUID_LEN + 1];
    char email[96], buyer_id[TIX_UUID_LEN + 1], ids[2][TIX_UUID_LEN + 1];
    open_sale(&s, event, type);
    register_user("dee", email, buyer_id);
    char *buyer = tix_test_token(buyer_id, 3600);
    char hold[TIX_UUID_LEN + 1];
    tix_shop_hold(buyer, event, type, 2, hold);
    long long total = tix_shop_order(buyer, event, hold, order);
    tix_shop_pay(event, order, total);
    order_tickets(order, ids);
    json_t *mails = wait_mails(email, 2, 30000); /* the verify mail, then the confirmation */
    cr_assert_eq(json_array_size(mails), 2, "verify mail and order confirmation");
    const json_t *m = json_array_get(mails, 1);
    cr_assert(strncmp(tix_json_str(m, "subject"), "Your order ", 11) == 0, "%s",
              tix_json_str(m, "subject"));
    cr_assert(strstr(tix_json_str(m, "html"), "Thank you for your order") != NULL);
    cr_assert(strstr(tix_json_str(m, "text"), ids[0]) != NULL);
    struct tix_buf pdf;
    attachment_of(m, &pdf);
    cr_assert(has(&pdf, ids[0]) && has(&pdf, ids[1]), "every ticket of the order in one PDF");
    tix_buf_deinit(&pdf);
    json_decref(mails);
    expect_pdf_route(ids[0], buyer, &s);
    /* a ticket offered to an address nobody registered yet: the address gets the offer */
    char email2[96], friend_id[TIX_UUID_LEN + 1], moved[TIX_UUID_LEN + 1];
    char offer_id[TIX_UUID_LEN + 1];
    fresh_address("eli", email2);
    tix_shop_offer(buyer, ids[0], email2, offer_id);
    mails = wait_mails(email2, 1, 30000);
    cr_assert_eq(json_array_size(mails), 1, "the offer's mail");
    m = json_array_get(mails, 0);
    cr_assert(strncmp(tix_json_str(m, "subject"), "dee sent you a ticket for Mail Night", 36) == 0,
              "%s", tix_json_str(m, "subject"));
    cr_assert(strstr(tix_json_str(m, "text"), "/ticket-transfers") != NULL, "%s",
              tix_json_str(m, "text"));
    json_decref(mails);
    tix_test_wait_scalar(db,
                         "SELECT count(*) FROM email_messages WHERE subject_id = $1 AND "
                         "kind = 'transfer_offer' AND status = 'sent' AND attempts = 1",
                         buyer_id, 1, 10000);
    /* the newcomer registers that address, verifies it, accepts: the ticket comes by mail */
    register_verified("eli", email2, friend_id);
    char *newcomer = tix_test_token(friend_id, 3600);
    tix_shop_accept(newcomer, offer_id, moved);
    free(newcomer);
    mails = wait_mails(email2, 3, 30000);
    cr_assert_eq(json_array_size(mails), 3, "offer, verify mail and the transferred ticket");
    m = json_array_get(mails, 2);
    cr_assert(strncmp(tix_json_str(m, "subject"), "Tickets for Mail Night", 22) == 0);
    attachment_of(m, &pdf);
    cr_assert(has(&pdf, moved) && !has(&pdf, ids[1]), "the recipient's ticket only");
    tix_buf_deinit(&pdf);
    json_decref(mails);
    free(buyer);
    tix_shop_close(&s);
}

Test(email, an_erased_person_gets_no_mail)
{
    char email[96], user[TIX_UUID_LEN + 1], stream[64], again[TIX_UUID_LEN + 1];
    register_user("fay", email, user);
    json_t *mails = wait_mails(email, 1, 20000);
    cr_assert_eq(json_array_size(mails), 1);
    json_decref(mails);
    char *token = tix_test_token(user, 600);
    struct tix_http_resp r;
    long status = tix_http("DELETE", "/api/v1/users/me", token,
                           "{\"password\":\"a long passphrase 42\"}", tix_shop_wait5, &r);
    cr_assert(status == 200 || status == 204, "%ld: %s", status, r.body);
    tix_http_resp_deinit(&r);
    free(token);
    tix_test_wait_scalar(db,
                         "SELECT count(*) FROM subject_keys WHERE subject_id = $1 AND "
                         "wrapped_key IS NULL",
                         user, 1, 15000);
    /* a verification asked for before the erasure, delivered after it */
    snprintf(stream, sizeof(stream), "user-%s", user);
    tix_uuid_v7(again);
    republish(stream, "user.email_verification_requested", again);
    tix_test_wait_scalar(db,
                         "SELECT count(*) FROM email_messages WHERE subject_id = $1 AND "
                         "status = 'skipped'",
                         user, 1, 15000);
    mails = mails_to(email);
    cr_assert_eq(json_array_size(mails), 1, "nothing more for an erased person");
    json_decref(mails);
}
