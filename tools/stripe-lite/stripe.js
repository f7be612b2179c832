// tools/stripe-lite/stripe.js - the benchmarks' light Stripe stand-in (nginx + njs)
//
// Speaks what the tests' WireMock stand-in answers on its happy path
// (tests/stripe/mappings/payment_intents_create.json + __files/payment_intent.json,
// refunds_create.json + __files/refund.json, unauthorized.json, unrecognized.json): the same
// checks on the request, the same JSON back. An intent's id is derived from the Idempotency-Key,
// so the same key always gets the same intent, as on Stripe, without any state kept here. It
// has none of the tests' failure stubs (declined, flaky, unavailable amounts): only
// bench/flash_sale.sh uses it, and the tests keep WireMock.
import qs from 'querystring';

const AUTH = /^Bearer sk_test_[A-Za-z0-9_]+$/;
const IDEMPOTENCY_KEY = /^[A-Za-z0-9_-]{1,255}$/;
const AMOUNT = /^[1-9][0-9]*$/;
const CURRENCY = /^[a-z]{3}$/;
const INTENT = /^pi_[A-Za-z0-9]+$/;
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

// Answers status with a Stripe-shaped invalid_request_error saying message.
function fail(r, status, message) {
    r.headersOut['Content-Type'] = 'application/json';
    r.return(status, JSON.stringify({error: {type: 'invalid_request_error', message: message}}));
}

// Answers 200 with obj as JSON.
function ok(r, obj) {
    r.headersOut['Content-Type'] = 'application/json';
    r.return(200, JSON.stringify(obj));
}

// The form of a POST whose headers are what Stripe requires (secret key, form content type,
// Idempotency-Key), or null once the error is answered.
function form(r) {
    const h = r.headersIn;
    if (!AUTH.test(h['Authorization'] || '')) {
        fail(r, 401, 'Invalid API Key provided.');
        return null;
    }
    if (r.method !== 'POST' ||
        (h['Content-Type'] || '').indexOf('application/x-www-form-urlencoded') < 0 ||
        !IDEMPOTENCY_KEY.test(h['Idempotency-Key'] || '')) {
        fail(r, 400, 'Unrecognized request URL or missing parameters.');
        return null;
    }
    return qs.parse(r.requestText || '');
}

// The form field name as one string ('' when absent or repeated).
function field(f, name) {
    const v = f[name];
    return typeof v === 'string' ? v : '';
}

// The metadata Stripe echoes: the order and event the worker names in the form.
function metadata(f) {
    return {order_id: field(f, 'metadata[order_id]'), event_id: field(f, 'metadata[event_id]')};
}

// The id part of an Idempotency-Key: without prefix and without dashes.
function keyId(key, prefix) {
    return key.split(prefix).join('').split('-').join('');
}

// Seconds since the epoch, as Stripe's "created".
function now() {
    return Math.floor(Date.now() / 1000);
}

// Stripe's Request-Id: req_ and 14 random letters and digits.
function requestId() {
    let s = 'req_';
    for (let i = 0; i < 14; i++)
        s += ALNUM[Math.floor(Math.random() * ALNUM.length)];
    return s;
}

// POST /v1/payment_intents: a PaymentIntent awaiting its payment method.
function paymentIntent(r) {
    const f = form(r);
    if (f === null)
        return;
    const amount = field(f, 'amount');
    const currency = field(f, 'currency');
    if (!AMOUNT.test(amount) || !CURRENCY.test(currency))
        return fail(r, 400, 'Unrecognized request URL or missing parameters.');
    const key = r.headersIn['Idempotency-Key'];
    const id = 'pi_' + keyId(key, 'tixmo-order-');
    const secret = Buffer.from(key).toString('base64').replace(/=+$/, '')
        .replace(/\+/g, 'P').replace(/\//g, 'S');
    r.headersOut['Request-Id'] = requestId();
    r.headersOut['Idempotency-Key'] = key;
    ok(r, {
        id: id,
        object: 'payment_intent',
        amount: Number(amount),
        amount_capturable: 0,
        amount_received: 0,
        capture_method: 'automatic',
        client_secret: id + '_secret_' + secret,
        confirmation_method: 'automatic',
        created: now(),
        currency: currency,
        livemode: false,
        metadata: metadata(f),
        payment_method_types: ['card'],
        status: 'requires_payment_method',
    });
}

// POST /v1/refunds: a refund that succeeded at once.
function refund(r) {
    const f = form(r);
    if (f === null)
        return;
    const intent = field(f, 'payment_intent');
    const amount = field(f, 'amount');
    if (!INTENT.test(intent) || !AMOUNT.test(amount))
        return fail(r, 400, 'Unrecognized request URL or missing parameters.');
    ok(r, {
        id: 're_' + keyId(r.headersIn['Idempotency-Key'], 'tixmo-refund-'),
        object: 'refund',
        amount: Number(amount),
        charge: 'ch_' + intent.split('pi_').join(''),
        created: now(),
        currency: 'eur',
        metadata: metadata(f),
        payment_intent: intent,
        reason: 'requested_by_customer',
        status: 'succeeded',
    });
}

// Anything else under /v1: 401 without a secret key, else 400, as the tests' stand-in answers.
function unrecognized(r) {
    if (!AUTH.test(r.headersIn['Authorization'] || ''))
        return fail(r, 401, 'Invalid API Key provided.');
    fail(r, 400, 'Unrecognized request URL or missing parameters.');
}

export default {paymentIntent, refund, unrecognized};
