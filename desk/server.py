"""gunicorn's thread worker, taking a new connection only while it has a thread free.

    gunicorn -k desk.server.ThreadWorker -w 2 --threads 2 --keep-alive 5 -b 0.0.0.0:8000 wsgi:app   # one worker a core

gunicorn's gthread workers all watch the listening socket, and a worker takes every
connection it is woken for until it holds `worker_connections` (1,000), however busy its
threads are. Clients that keep their connections open (a panel's HTTP pool, a proxy's
upstream keep-alive, wrk) open them in a burst, and the first worker to run took them all:
on the 2-core bench machine, in about half of the intake runs all 16 of wrk's connections
sat in one worker, whose one core (the GIL) served them at ~200 tickets/s while the other
three workers idled (bench/README.md, "Ticket intake"). Here a worker whose threads are all
busy leaves the listening socket alone, so a connection goes to a worker that can start on
it now; when every worker is busy it waits in the backlog for a thread to come free, and a
busy worker still takes one waiting connection every PATIENCE seconds, so none is left
there for long — and no worker hoards a burst.

Only this process's main thread (gunicorn's event loop) touches `in_flight`: requests are
counted when handed to the thread pool and uncounted when their completion is handled,
both on that loop. Built on gunicorn 27's ThreadWorker (pyproject pins the major version:
set_accept_enabled, enqueue_req and finish_request are its own methods).
"""
import time

from gunicorn.workers import gthread

PATIENCE = 0.05  # seconds a busy worker leaves waiting connections to the others


class ThreadWorker(gthread.ThreadWorker):
    def init_process(self):
        self.in_flight, self.last_accept = 0, 0.0
        super().init_process()

    def accept(self, listener):
        self.last_accept = time.monotonic()
        super().accept(listener)

    def enqueue_req(self, conn):
        self.in_flight += 1
        super().enqueue_req(conn)
        self._watch_listener()

    def finish_request(self, conn, fs):
        self.in_flight -= 1  # first: finishing may hand the connection's next request over again
        super().finish_request(conn, fs)
        self._watch_listener()

    def set_accept_enabled(self, enabled):
        # The event loop turns accepting on whenever it holds fewer connections than it may,
        # on each of its turns. Busy, the worker takes one waiting connection every PATIENCE
        # seconds: the others, if free, take them first, and none waits for ever.
        if enabled and self.in_flight >= self.cfg.threads:
            enabled = time.monotonic() - self.last_accept >= PATIENCE
        super().set_accept_enabled(enabled)

    def _watch_listener(self):
        if self.alive:  # a stopping worker has stopped accepting for good
            self.set_accept_enabled(self.nr_conns < self.worker_connections)
