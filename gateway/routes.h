/* routes.h - every route handler of the gateway (gateway/http_*.c) */
#ifndef TIX_GATEWAY_ROUTES_H
#define TIX_GATEWAY_ROUTES_H

#include "gateway.h"

void tix_http_healthz(struct tix_req *req);
void tix_http_readyz(struct tix_req *req);
void tix_http_metrics(struct tix_req *req);
void tix_http_openapi(struct tix_req *req);
void tix_http_command_get(struct tix_req *req);

void tix_http_orgs_list(struct tix_req *req);
void tix_http_org_create(struct tix_req *req);
void tix_http_org_get(struct tix_req *req);
void tix_http_org_update(struct tix_req *req);
void tix_http_org_close(struct tix_req *req);
void tix_http_org_settings(struct tix_req *req);
void tix_http_members_list(struct tix_req *req);
void tix_http_member_add(struct tix_req *req);
void tix_http_member_update(struct tix_req *req);
void tix_http_member_remove(struct tix_req *req);

void tix_http_register(struct tix_req *req);
void tix_http_verify_email(struct tix_req *req);
void tix_http_login(struct tix_req *req);
void tix_http_login_2fa(struct tix_req *req);
void tix_http_refresh(struct tix_req *req);
void tix_http_logout(struct tix_req *req);
void tix_http_forgot_password(struct tix_req *req);
void tix_http_reset_password(struct tix_req *req);
void tix_http_2fa_enable(struct tix_req *req);
void tix_http_2fa_confirm(struct tix_req *req);
void tix_http_2fa_disable(struct tix_req *req);

void tix_http_me_get(struct tix_req *req);
void tix_http_me_update(struct tix_req *req);
void tix_http_me_delete(struct tix_req *req);
void tix_http_me_password(struct tix_req *req);
void tix_http_me_preferences(struct tix_req *req);

void tix_http_api_keys_list(struct tix_req *req);
void tix_http_api_key_create(struct tix_req *req);
void tix_http_api_key_revoke(struct tix_req *req);

void tix_http_venue_create(struct tix_req *req);
void tix_http_venue_update(struct tix_req *req);
void tix_http_venue_delete(struct tix_req *req);
void tix_http_venue_chart_publish(struct tix_req *req);
void tix_http_venue_get(struct tix_req *req);
void tix_http_venue_chart_get(struct tix_req *req);
void tix_http_venue_events(struct tix_req *req);

void tix_http_event_create(struct tix_req *req);
void tix_http_event_update(struct tix_req *req);
void tix_http_event_delete(struct tix_req *req);
void tix_http_event_session_update(struct tix_req *req);
void tix_http_event_publish(struct tix_req *req);
void tix_http_event_unpublish(struct tix_req *req);
void tix_http_event_open_sales(struct tix_req *req);
void tix_http_event_mark_sold_out(struct tix_req *req);
void tix_http_event_reopen_sales(struct tix_req *req);
void tix_http_event_cancel(struct tix_req *req);
void tix_http_event_session_cancel(struct tix_req *req);
void tix_http_event_get(struct tix_req *req);
void tix_http_org_event_get(struct tix_req *req);
void tix_http_org_events_list(struct tix_req *req);
void tix_http_events_list(struct tix_req *req);
void tix_http_events_featured(struct tix_req *req);
void tix_http_event_feature(struct tix_req *req);
void tix_http_event_unfeature(struct tix_req *req);

void tix_http_search_events(struct tix_req *req);
void tix_http_search_autocomplete(struct tix_req *req);
void tix_http_search_venues(struct tix_req *req);

void tix_http_ticket_types_list(struct tix_req *req);
void tix_http_ticket_type_create(struct tix_req *req);
void tix_http_ticket_type_get(struct tix_req *req);
void tix_http_ticket_type_update(struct tix_req *req);
void tix_http_ticket_type_delete(struct tix_req *req);
void tix_http_ticket_type_availability(struct tix_req *req);
void tix_http_seat_map(struct tix_req *req);
void tix_http_availability_stream(struct tix_req *req);
void tix_http_sale_settings(struct tix_req *req);
void tix_http_pool_define(struct tix_req *req);
void tix_http_event_scan(struct tix_req *req);

void tix_http_cart_get(struct tix_req *req);
void tix_http_cart_clear(struct tix_req *req);
void tix_http_cart_add(struct tix_req *req);
void tix_http_cart_remove(struct tix_req *req);
void tix_http_cart_lock_seats(struct tix_req *req);
void tix_http_cart_extend(struct tix_req *req);

void tix_http_orders_list(struct tix_req *req);
void tix_http_order_place(struct tix_req *req);
void tix_http_order_get(struct tix_req *req);
void tix_http_order_cancel(struct tix_req *req);
void tix_http_order_refund(struct tix_req *req);
void tix_http_ticket_transfer(struct tix_req *req);
void tix_http_ticket_transfers_list(struct tix_req *req);
void tix_http_ticket_transfer_accept(struct tix_req *req);
void tix_http_order_tickets(struct tix_req *req);

void tix_http_tickets_list(struct tix_req *req);
void tix_http_ticket_get(struct tix_req *req);
void tix_http_ticket_validate(struct tix_req *req);
void tix_http_ticket_qr(struct tix_req *req);
void tix_http_ticket_pdf(struct tix_req *req);
void tix_http_payments_webhook(struct tix_req *req);
void tix_http_payment_get(struct tix_req *req);

#endif
