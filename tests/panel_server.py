"""A small SMM panel speaking API v2 on loopback, for the tests of the desk's panel client,
status refresh and actions: a real HTTP server in a thread, never the network.

It answers the documented shapes (services, add, status for one order or many, refill,
refill_status, cancel, balance, `{"error": ...}`), keeps every request it received (so a
test sees what was sent, and where), and can be told to misbehave for the next requests:
answer with an HTTP status, hang past the client's timeout, send something that is not
JSON, or refuse with an error."""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

KEY = "pk_live_7f3a9c0e5b2d4e8f9a1b"  # what the tests configure as PANEL_API_KEY


def order_answer(status="In progress", charge="0.27819", start_count="3572", remains="157", currency="USD"):
    return {"charge": charge, "start_count": start_count, "status": status, "remains": remains, "currency": currency}


class FakePanel:
    def __init__(self, key: str = KEY):
        self.key = key
        self.orders: dict[str, dict] = {}  # order id -> its status answer
        self.refills: dict[str, list[str]] = {}  # refill id -> the statuses still to answer (the last one stays)
        self.refilled: dict[str, str] = {}  # refill id -> order id
        self.refill_plan = ["Pending", "In progress", "Completed"]  # what a new refill goes through
        self.balance = "100.84292"
        self.requests: list[dict] = []
        self.faults: list[tuple] = []  # the next requests' misbehaviour, in order
        self._release = threading.Event()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    # --- running ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/api/v2"

    def start(self) -> "FakePanel":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()  # hung answers end now
        self._server.shutdown()
        self._server.server_close()

    # --- telling it what to do ---------------------------------------------------------

    def fail(self, *faults) -> None:
        """Queue misbehaviour for the next requests, one each: ("http", 500), ("hang", 2.0),
        ("raw", "<html>oops"), ("error", "Not enough funds"). The requests after them are
        answered normally."""
        with self._lock:
            self.faults.extend(faults)

    def actions(self) -> list[str]:
        return [r["form"].get("action") for r in self.requests]

    # --- answering ---------------------------------------------------------------------

    def _answer(self, form: dict) -> tuple[int, object]:
        if form.get("key") != self.key:
            return 200, {"error": "Invalid API key"}
        action = form.get("action")
        if action == "services":
            return 200, [{"service": 1, "name": "Followers", "type": "Default", "category": "First Category",
                          "rate": "0.90", "min": "50", "max": "10000", "refill": True, "cancel": True}]
        if action == "add":
            with self._lock:
                order = str(1000 + len(self.orders) + 1)
                self.orders[order] = order_answer("Pending", remains=form.get("quantity", "0"))
            return 200, {"order": int(order)}
        if action == "status":
            if "orders" in form:
                ids = [i.strip() for i in form["orders"].split(",") if i.strip()]
                if len(ids) > 100:
                    return 200, {"error": "Too many orders (100 at most)"}
                return 200, {i: self.orders.get(i, {"error": "Incorrect order ID"}) for i in ids}
            found = self.orders.get(form.get("order", ""))
            return 200, found if found is not None else {"error": "Incorrect order ID"}
        if action == "refill":
            order = form.get("order", "")
            if order not in self.orders:
                return 200, {"error": "Incorrect order ID"}
            with self._lock:
                refill = str(len(self.refills) + 1)
                self.refills[refill] = list(self.refill_plan)
                self.refilled[refill] = order
            return 200, {"refill": refill}
        if action == "refill_status":
            with self._lock:
                plan = self.refills.get(form.get("refill", ""))
                if plan is None:
                    return 200, {"error": "Incorrect refill ID"}
                status = plan.pop(0) if len(plan) > 1 else plan[0]
            return 200, {"status": status}
        if action == "cancel":
            answers = []
            for order in [i.strip() for i in form.get("orders", "").split(",") if i.strip()]:
                found = self.orders.get(order)
                if found is None:
                    answers.append({"order": int(order) if order.isdigit() else order,
                                    "cancel": {"error": "Incorrect order ID"}})
                elif found["status"] != "Pending":
                    answers.append({"order": int(order), "cancel": {"error": "The order cannot be canceled"}})
                else:
                    found["status"] = "Canceled"
                    answers.append({"order": int(order), "cancel": 1})
            return 200, answers
        if action == "balance":
            return 200, {"balance": self.balance, "currency": "USD"}
        return 200, {"error": "Incorrect request"}

    def _handler(self):
        panel = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                self._send(405, b'{"error": "POST only"}')

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode()
                form = {k: v[-1] for k, v in parse_qs(raw, keep_blank_values=True).items()}
                parts = urlsplit(self.path)
                with panel._lock:
                    panel.requests.append({"path": parts.path, "query": parts.query, "form": form,
                                           "content_type": self.headers.get("Content-Type", "")})
                    fault = panel.faults.pop(0) if panel.faults else None
                if fault and fault[0] == "hang":
                    panel._release.wait(fault[1])
                    self._send(200, json.dumps({"error": "too late"}).encode())
                elif fault and fault[0] == "http":
                    self._send(fault[1], b"<html><body>Bad gateway</body></html>", "text/html")
                elif fault and fault[0] == "raw":
                    self._send(200, fault[1].encode(), "text/html")
                elif fault and fault[0] == "error":
                    self._send(200, json.dumps({"error": fault[1]}).encode())
                else:
                    status, body = panel._answer(form)
                    self._send(status, json.dumps(body).encode())

            def _send(self, status: int, body: bytes, content_type: str = "application/json"):
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:  # the client gave up (a timeout): nothing to tell it
                    pass

        return Handler
