/*
 * Sending one message from a libuv loop through the io-posix embedding
 * API: a uv_poll_t watches the adapter's socket for the events it wants,
 * a uv_timer_t wakes it for its next deadline.
 *
 *   uv_send HOST PORT FROM TO
 */
#include <poll.h>
#include <stdlib.h>
#include <uv.h>

#include "session.h"

static uv_poll_t *watcher; /* one per socket: the adapter may move to another address */
static int watched_fd = -1;
static uv_timer_t timer;

static void rearm(struct session *s);

static void on_io(uv_poll_t *w, int status, int events)
{
	struct session *s = w->data;

	if (status < 0 || (events & UV_READABLE))
		smtpc_posix_readable(s->p);
	if (events & UV_WRITABLE)
		smtpc_posix_writable(s->p);
	rearm(s);
}

static void on_timer(uv_timer_t *t)
{
	struct session *s = t->data;

	smtpc_posix_timer(s->p);
	rearm(s);
}

static void free_handle(uv_handle_t *h)
{
	free(h);
}

static void unwatch(void)
{
	if (watcher != NULL)
		uv_close((uv_handle_t *)watcher, free_handle);
	watcher = NULL;
	watched_fd = -1;
}

/* Watches what the adapter wants now; stops everything when it is done. */
static void rearm(struct session *s)
{
	short want = smtpc_posix_events(s->p);
	long t = smtpc_posix_timeout(s->p);
	int ev = ((want & POLLIN) ? UV_READABLE : 0) | ((want & POLLOUT) ? UV_WRITABLE : 0);

	if (smtpc_posix_done(s->p)) {
		unwatch();
		uv_close((uv_handle_t *)&timer, NULL);
		return;
	}
	if (smtpc_posix_fd(s->p) != watched_fd) {
		unwatch();
		watcher = malloc(sizeof *watcher);
		if (watcher == NULL)
			abort();
		watched_fd = smtpc_posix_fd(s->p);
		uv_poll_init(uv_default_loop(), watcher, watched_fd);
		watcher->data = s;
	}
	uv_poll_start(watcher, ev, on_io);
	if (t >= 0)
		uv_timer_start(&timer, on_timer, (uint64_t)t, 0);
	else
		uv_timer_stop(&timer);
}

int main(int argc, char **argv)
{
	struct session s = {NULL, NULL, NULL, "Subject: libuv\r\n\r\nSent from a libuv loop.\r\n", 0, 0};
	smtpc_posix_opts o;

	if (argc != 5) {
		fprintf(stderr, "usage: uv_send HOST PORT FROM TO\n");
		return 64;
	}
	s.from = argv[3];
	s.to = argv[4];
	o = session_opts(&s, argv[1], argv[2]);
	s.p = smtpc_posix_new(&o);
	if (s.p == NULL || smtpc_posix_start(s.p) != SMTPC_ERR_OK)
		return 1;
	uv_timer_init(uv_default_loop(), &timer);
	timer.data = &s;
	rearm(&s);
	uv_run(uv_default_loop(), UV_RUN_DEFAULT);
	smtpc_posix_free(s.p);
	return s.status;
}
