/*
 * Sending one message from a libuv loop through the io-posix embedding
 * API: a uv_poll_t watches the adapter's socket for the events it wants,
 * a uv_timer_t wakes it for its next deadline, and a uv_prepare_t issues
 * what the callbacks left for later (outside any of smtpc's callbacks).
 * libuv runs due timers before I/O: the adapter's waits start when a
 * command is issued, so that order is safe. The prepare handle runs in
 * every loop iteration just before libuv blocks for I/O (and before it
 * computes how long to block), so a command left for later by a callback
 * that ran in the timer phase is issued, and watched for, before the loop
 * sleeps; a check handle runs only after the I/O phase, which may never
 * end when the adapter has nothing to wait for but that command.
 *
 *   uv_send [--starttls --cafile FILE [--tls-name NAME]] HOST PORT FROM TO
 */
#include <poll.h>
#include <stdlib.h>
#include <uv.h>

#include "session.h"

static uv_poll_t *watcher; /* one per socket: the adapter may move to another address */
static int watched_fd = -1;
static uv_timer_t timer;
static uv_prepare_t prepare;

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
		uv_close((uv_handle_t *)&prepare, NULL);
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

/* Before each wait for I/O: commands the callbacks left for later. */
static void on_prepare(uv_prepare_t *h)
{
	struct session *s = h->data;

	if (s->later != LATER_NONE && !smtpc_posix_done(s->p)) {
		session_later(s);
		rearm(s); /* the adapter now wants to write: watch for it */
	}
}

int main(int argc, char **argv)
{
	struct session s;
	int rc;

	memset(&s, 0, sizeof s);
	s.message = "Subject: libuv\r\n\r\nSent from a libuv loop.\r\n";
	rc = session_open(&s, argc, argv, "uv_send");
	if (rc != 0) {
		session_close(&s);
		return rc;
	}
	uv_timer_init(uv_default_loop(), &timer);
	timer.data = &s;
	uv_prepare_init(uv_default_loop(), &prepare);
	prepare.data = &s;
	uv_prepare_start(&prepare, on_prepare);
	rearm(&s);
	uv_run(uv_default_loop(), UV_RUN_DEFAULT);
	rc = s.status;
	session_close(&s);
	return rc;
}
