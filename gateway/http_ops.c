/* http_ops.c - /healthz, /readyz, /metrics: for load balancers, orchestrators and Prometheus */
#include <stdlib.h>
#include <string.h>

#include "tix/redis.h"

#include "gateway.h"
#include "routes.h"

void tix_http_healthz(struct tix_req *req)
{
    tix_gw_reply_json(req, 200, json_pack("{ss}", "status", "ok"));
}

/* Ready when this thread reaches Postgres and the broker; Redis is reported but optional
 * (rate limits fall back to a local limiter without it). */
void tix_http_readyz(struct tix_req *req)
{
    struct tix_gw_thread *th = req->th;
    bool db_ok = tix_db_exec(th->db, "SELECT 1 FROM rm.command_status LIMIT 1", 0, NULL, NULL,
                             NULL) == TIX_OK;
    bool redis_ok = th->redis != NULL && tix_redis_cmd(th->redis, NULL, NULL, "PING") == TIX_OK;
    bool ready = db_ok && th->is_bus_ok;
    tix_gw_reply_json(req, ready ? 200 : 503,
                      json_pack("{ss s{ss ss ss}}", "status", ready ? "ready" : "not ready",
                                "checks", "postgres", db_ok ? "ok" : "unreachable", "rabbitmq",
                                th->is_bus_ok ? "ok" : "unreachable", "redis",
                                redis_ok ? "ok" : "unreachable (local rate limits)"));
}

void tix_http_metrics(struct tix_req *req)
{
    struct tix_buf out;
    tix_buf_init(&out, 0);
    tix_gw_metrics_render(req->th->gw, &out);
    tix_gw_reply(req, 200, "text/plain; version=0.0.4", out.ptr, out.len);
    tix_buf_deinit(&out);
}
