/* offload.c - slow CPU work (Argon2id) off the event-loop threads
 *
 * A few worker threads take jobs from one queue; each job's work runs on a worker, then its
 * done callback runs back on the loop thread of the request that asked (event_base_once, which
 * libevent allows from any thread once evthread_use_pthreads() was called). An event-loop thread
 * therefore never spends 50 ms hashing while hundreds of other requests wait. Jobs in flight are
 * counted per thread so a graceful stop waits for them.
 */
#include <pthread.h>
#include <stdlib.h>

#include "tix/mem.h"

#include "gateway.h"

struct job {
    struct job *next;
    struct tix_req *req;
    void (*work)(void *ctx);
    void (*done)(struct tix_req *req, void *ctx);
    void *ctx;
};

struct tix_gw_pool {
    pthread_mutex_t lock;
    pthread_cond_t ready;
    struct job *head, *tail;
    bool is_stopping;
    int n_workers;
    pthread_t *workers;
};

static void finish_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct job *j = arg;
    struct tix_gw_thread *th = j->req->th;
    j->done(j->req, j->ctx);
    __atomic_sub_fetch(&th->offloads, 1, __ATOMIC_RELAXED);
    free(j);
}

static void *worker_main(void *arg)
{
    struct tix_gw_pool *pool = arg;
    for (;;) {
        pthread_mutex_lock(&pool->lock);
        while (pool->head == NULL && !pool->is_stopping)
            pthread_cond_wait(&pool->ready, &pool->lock);
        struct job *j = pool->head;
        if (j != NULL) {
            pool->head = j->next;
            if (pool->head == NULL)
                pool->tail = NULL;
        }
        pthread_mutex_unlock(&pool->lock);
        if (j == NULL)
            return NULL; /* stopping and nothing left */
        j->work(j->ctx);
        struct timeval now = {0, 0};
        event_base_once(j->req->th->base, -1, EV_TIMEOUT, finish_cb, j, &now);
    }
}

struct tix_gw_pool *tix_gw_pool_create(int n_workers)
{
    struct tix_gw_pool *pool = tix_xcalloc(1, sizeof(*pool));
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->ready, NULL);
    pool->n_workers = n_workers;
    pool->workers = tix_xcalloc((size_t)n_workers, sizeof(*pool->workers));
    for (int i = 0; i < n_workers; i++)
        pthread_create(&pool->workers[i], NULL, worker_main, pool);
    return pool;
}

void tix_gw_pool_destroy(struct tix_gw_pool *pool)
{
    if (pool == NULL)
        return;
    pthread_mutex_lock(&pool->lock);
    pool->is_stopping = true;
    pthread_cond_broadcast(&pool->ready);
    pthread_mutex_unlock(&pool->lock);
    for (int i = 0; i < pool->n_workers; i++)
        pthread_join(pool->workers[i], NULL);
    pthread_mutex_destroy(&pool->lock);
    pthread_cond_destroy(&pool->ready);
    free(pool->workers);
    free(pool);
}

void tix_gw_offload(struct tix_req *req, void (*work)(void *ctx),
                    void (*done)(struct tix_req *req, void *ctx), void *ctx)
{
    struct tix_gw_pool *pool = req->th->gw->pool;
    struct job *j = tix_xcalloc(1, sizeof(*j));
    *j = (struct job){.req = req, .work = work, .done = done, .ctx = ctx};
    __atomic_add_fetch(&req->th->offloads, 1, __ATOMIC_RELAXED);
    pthread_mutex_lock(&pool->lock);
    if (pool->tail != NULL)
        pool->tail->next = j;
    else
        pool->head = j;
    pool->tail = j;
    pthread_cond_signal(&pool->ready);
    pthread_mutex_unlock(&pool->lock);
}
