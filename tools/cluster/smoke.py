#!/usr/bin/env python3
"""The smoke run of scripts/cluster-local, through HAProxy (standard library only; wrk for
the throughput rows when installed).

1. Sign-in of the demo customer and the admin.
2. A subscription (SSE) opened on router a sees the checkout of the demo cart and its
   payment, both made through router b; the payment is approved at the sandbox gateway
   (its redirectUrl, through the balancer).
3. A flash-sale storm: the admin puts QUANTITY units up, BUYERS new customers buy one each
   at once; exactly QUANTITY are admitted, the rest SOLD_OUT, every admitted purchase gets
   its order, and the sale has none left.
4. Read throughput with everything up.
5. Reads and checkouts from concurrent clients while router b and replica b of every
   subgraph get SIGTERM; a client retries an idempotent request once on 502/503/504, a
   dropped connection or UNAVAILABLE (checkouts with the same idempotency key) and counts
   it; any other failure fails the run.
6. Read throughput again, now with one router and one replica of each, and the ratio.

Environment (set by scripts/cluster-local): CLUSTER_PUBLIC_URL, CLUSTER_ROUTER_A_URL,
CLUSTER_ROUTER_B_URL, CLUSTER_STATS_URL, CLUSTER_PIDS, CLUSTER_WRK_SCRIPT; optional
CLUSTER_BUYERS (40), CLUSTER_FLASH_QUANTITY (20), CLUSTER_LOAD_SECONDS (24),
CLUSTER_BENCH_SECONDS (10), CLUSTER_BENCH_CONNECTIONS (32).
"""

import http.client
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from datetime import datetime, timedelta, timezone

PUBLIC = os.environ["CLUSTER_PUBLIC_URL"]
ROUTER_A = os.environ["CLUSTER_ROUTER_A_URL"]
ROUTER_B = os.environ["CLUSTER_ROUTER_B_URL"]
STATS = os.environ["CLUSTER_STATS_URL"]
PIDS = os.environ["CLUSTER_PIDS"]
WRK_SCRIPT = os.environ.get("CLUSTER_WRK_SCRIPT", "")
BUYERS = int(os.environ.get("CLUSTER_BUYERS", "40"))
QUANTITY = int(os.environ.get("CLUSTER_FLASH_QUANTITY", "20"))
LOAD_SECONDS = float(os.environ.get("CLUSTER_LOAD_SECONDS", "24"))
BENCH_SECONDS = int(os.environ.get("CLUSTER_BENCH_SECONDS", "10"))
BENCH_CONNECTIONS = int(os.environ.get("CLUSTER_BENCH_CONNECTIONS", "32"))
RUN_ID = str(int(time.time()))
READ = "{ products(first: 5) { edges { node { id name } } } }"
ADDRESS = {
    "recipient": "Cluster Smoke", "phone": "13800000000", "province": "Zhejiang",
    "city": "Hangzhou", "district": "Xihu", "line1": "1 Replica Road",
}

failures = []


def check(condition, what):
    print(("  ok    " if condition else "  FAIL  ") + what, flush=True)
    if not condition:
        failures.append(what)
    return condition


class Retryable(Exception):
    """A failure a client retries once: the request did not get an answer it can use."""


class Client:
    """GraphQL over one keep-alive HTTP/1.1 connection (reopened when dropped)."""

    def __init__(self, url, token=None, timeout=30):
        parts = urllib.parse.urlsplit(url)
        self.host, self.port, self.path = parts.hostname, parts.port, parts.path
        self.token, self.timeout, self.conn = token, timeout, None

    def _send(self, query, variables):
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        headers = {"content-type": "application/json"}
        if self.token:
            headers["authorization"] = "Bearer " + self.token
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self.conn.request("POST", self.path, body, headers)
            response = self.conn.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException) as error:
            self.close()
            raise Retryable(f"connection: {error!r}")
        if response.status in (502, 503, 504):
            self.close()
            raise Retryable(f"HTTP {response.status}: {raw[:200]!r}")
        try:
            answer = json.loads(raw)
        except ValueError:
            raise RuntimeError(f"HTTP {response.status}, not JSON: {raw[:300]!r}")
        codes = [(e.get("extensions") or {}).get("code") for e in answer.get("errors") or []]
        if "UNAVAILABLE" in codes:
            raise Retryable(f"UNAVAILABLE: {answer['errors']}")
        return answer

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def call(self, query, variables=None, retry=False, stats=None):
        """The answer; with `retry`, one more try after a retryable failure (counted)."""
        try:
            return self._send(query, variables)
        except Retryable as first:
            if not retry:
                raise RuntimeError(str(first))
            if stats is not None:
                stats.note("retried", str(first))
            time.sleep(0.2)
            try:
                return self._send(query, variables)
            except Retryable as second:
                raise RuntimeError(f"after a retry: {second}")

    def data(self, query, variables=None, **kw):
        answer = self.call(query, variables, **kw)
        if answer.get("errors"):
            raise RuntimeError(f"errors: {json.dumps(answer['errors'])[:500]}")
        return answer["data"]


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {}
        self.examples = {}

    def note(self, kind, example=None):
        with self.lock:
            self.counts[kind] = self.counts.get(kind, 0) + 1
            if example and len(self.examples.setdefault(kind, [])) < 3:
                self.examples[kind].append(example[:300])

    def get(self, kind):
        return self.counts.get(kind, 0)


def login(email, password):
    data = Client(PUBLIC).data(
        "mutation($i: LoginInput!) { login(input: $i) { accessToken } }",
        {"i": {"email": email, "password": password}})
    return data["login"]["accessToken"]


def in_parallel(n, work, threads=8):
    """work(i) for i in range(n) on `threads` threads; the results in order."""
    results, errors = [None] * n, []
    jobs = queue.Queue()
    for i in range(n):
        jobs.put(i)

    def worker():
        while True:
            try:
                i = jobs.get_nowait()
            except queue.Empty:
                return
            try:
                results[i] = work(i)
            except Exception as error:  # noqa: BLE001 - reported below
                errors.append(f"{i}: {error}")

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    if errors:
        raise RuntimeError(f"{len(errors)} failed, e.g. {errors[0]}")
    return results


class Sse(threading.Thread):
    """One subscription over SSE (POST, Accept: text/event-stream); events in a queue."""

    def __init__(self, url, token, query):
        super().__init__(daemon=True)
        parts = urllib.parse.urlsplit(url)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=3600)
        self.conn.request("POST", parts.path, json.dumps({"query": query}).encode(), {
            "content-type": "application/json", "accept": "text/event-stream",
            "authorization": "Bearer " + token})
        self.response = self.conn.getresponse()
        if self.response.status != 200:
            raise RuntimeError(f"SSE: HTTP {self.response.status} {self.response.read()[:300]!r}")
        self.events = queue.Queue()
        self.start()

    def run(self):
        event, data = None, []
        try:
            while True:
                line = self.response.readline()
                if not line:
                    break
                line = line.decode().rstrip("\r\n")
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())
                elif line == "" and (event or data):
                    payload = json.loads("\n".join(data)) if data else None
                    self.events.put((event or "next", payload))
                    event, data = None, []
        except Exception as error:  # noqa: BLE001 - closed under it, or a broken stream
            self.events.put(("error", str(error)))
        self.events.put(("closed", None))

    def wait_for(self, predicate, seconds):
        deadline = time.time() + seconds
        while time.time() < deadline:
            try:
                kind, payload = self.events.get(timeout=max(0.05, deadline - time.time()))
            except queue.Empty:
                break
            if kind != "next":
                raise RuntimeError(f"subscription ended: {kind} {payload}")
            if predicate(payload):
                return payload
        return None

    def close(self):
        try:
            self.conn.sock.shutdown(2)
        except OSError:
            pass
        self.conn.close()


class WebSocket:
    """A minimal graphql-transport-ws client (RFC 6455 handshake and text frames)."""

    def __init__(self, url, token):
        import base64
        import socket
        parts = urllib.parse.urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET {parts.path} HTTP/1.1\r\nHost: {parts.hostname}:{parts.port}\r\n"
                           "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                           f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                           "Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise RuntimeError("WebSocket: closed during the handshake")
            head += chunk
        head, self.buffer = head.split(b"\r\n\r\n", 1)
        if b" 101 " not in head.split(b"\r\n")[0]:
            raise RuntimeError(f"WebSocket: {head[:200]!r}")
        self.send({"type": "connection_init", "payload": {"Authorization": "Bearer " + token}})
        if self.receive(10).get("type") != "connection_ack":
            raise RuntimeError("WebSocket: no connection_ack")

    def send(self, message):
        data = json.dumps(message).encode()
        mask = os.urandom(4)
        size = len(data)
        header = bytes([0x81]) + (bytes([0x80 | size]) if size < 126 else
                                  bytes([0x80 | 126]) + size.to_bytes(2, "big") if size < 65536 else
                                  bytes([0x80 | 127]) + size.to_bytes(8, "big"))
        self.sock.sendall(header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def _read(self, n):
        while len(self.buffer) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RuntimeError("WebSocket closed")
            self.buffer += chunk
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def receive(self, seconds):
        """The next graphql-transport-ws message (answers pings on the way)."""
        self.sock.settimeout(seconds)
        while True:
            first, second = self._read(2)
            size = second & 0x7F
            if size == 126:
                size = int.from_bytes(self._read(2), "big")
            elif size == 127:
                size = int.from_bytes(self._read(8), "big")
            payload = self._read(size)
            opcode = first & 0x0F
            if opcode == 0x8:
                raise RuntimeError(f"WebSocket closed by the server: {payload[:2].hex()} {payload[2:]!r}")
            if opcode == 0x9:  # ping frame
                continue
            message = json.loads(payload)
            if message.get("type") == "ping":
                self.send({"type": "pong"})
                continue
            return message

    def wait_for(self, predicate, seconds):
        deadline = time.time() + seconds
        while time.time() < deadline:
            try:
                message = self.receive(max(0.05, deadline - time.time()))
            except OSError:
                return None
            if message.get("type") != "next":
                raise RuntimeError(f"subscription: {message}")
            if predicate(message["payload"]):
                return message["payload"]
        return None

    def close(self):
        self.sock.close()


def haproxy_servers():
    """{server name: status} from HAProxy's CSV statistics."""
    text = urllib.request.urlopen(STATS, timeout=5).read().decode()
    rows = [line.split(",") for line in text.splitlines() if line and not line.startswith("#")]
    return {row[1]: row[17] for row in rows if row[1] not in ("FRONTEND", "BACKEND")}


def haproxy_retries():
    text = urllib.request.urlopen(STATS, timeout=5).read().decode()
    header = text.splitlines()[0].lstrip("# ").split(",")
    wretr, wredis = header.index("wretr"), header.index("wredis")
    total = {"retries": 0, "redispatches": 0}
    for line in text.splitlines()[1:]:
        row = line.split(",")
        if len(row) > wredis and row[1] == "BACKEND":
            total["retries"] += int(row[wretr] or 0)
            total["redispatches"] += int(row[wredis] or 0)
    return total


# --- 1. sign-in ------------------------------------------------------------------------------
def step_sign_in():
    print("1. sign-in through the balancer", flush=True)
    demo = login("demo@douyin-mall.dev", "demo-password")
    admin = login("admin@douyin-mall.dev", "admin-password")
    me = Client(PUBLIC, demo).data("{ me { email } }")
    check(me["me"]["email"] == "demo@douyin-mall.dev", "demo customer signed in")
    return demo, admin


# --- 2. checkout, payment, a subscription across routers ------------------------------------
def step_checkout_pay_live(demo):
    print("2. checkout and payment through router b, watched live through router a (SSE)", flush=True)
    subscription = "subscription { orderUpdated { previousStatus status order { id status } } }"
    watch = Sse(ROUTER_A, demo, subscription)
    # And one over WebSocket through the balancer (graphql-transport-ws on /graphql).
    ws = WebSocket(PUBLIC, demo)
    ws.send({"id": "1", "type": "subscribe", "payload": {"query": subscription}})
    time.sleep(1.0)  # the subscriptions are open at the order subgraph
    via_b = Client(ROUTER_B, demo)
    order = via_b.data(
        'mutation { checkout(input: { idempotencyKey: "cluster-smoke-' + RUN_ID + '" }) { id status total { formatted } } }'
    )["checkout"]
    check(order["status"] == "PENDING_PAYMENT", f"checkout of the demo cart: order {order['id']} {order['status']} {order['total']['formatted']}")
    placed = watch.wait_for(lambda p: p["data"]["orderUpdated"]["order"]["id"] == order["id"], 15)
    check(placed is not None and placed["data"]["orderUpdated"]["status"] == "PENDING_PAYMENT",
          "router a's subscriber saw the order placed through router b")
    payment = via_b.data(
        "mutation($i: PayOrderInput!) { payOrder(input: $i) { id status redirectUrl } }",
        {"i": {"orderId": order["id"], "method": "SANDBOX_CARD", "idempotencyKey": "cluster-pay-" + RUN_ID}},
    )["payOrder"]
    check(payment["status"] == "PENDING" and payment["redirectUrl"], f"payOrder: {payment['status']}, redirectUrl {payment['redirectUrl']}")
    request = urllib.request.Request(payment["redirectUrl"] + "/approve", data=b"", method="POST",
                                     headers={"accept": "application/json"})
    approved = urllib.request.urlopen(request, timeout=10)
    check(approved.status in (200, 202), f"sandbox gateway approved it (HTTP {approved.status})")
    paid = watch.wait_for(lambda p: p["data"]["orderUpdated"]["order"]["id"] == order["id"]
                          and p["data"]["orderUpdated"]["status"] == "PAID", 20)
    check(paid is not None, "router a's subscriber saw it PAID (webhook → payment → order, over the bus)")
    seen = ws.wait_for(lambda p: p["data"]["orderUpdated"]["order"]["id"] == order["id"]
                       and p["data"]["orderUpdated"]["status"] == "PAID", 10)
    check(seen is not None, "a WebSocket subscriber through the balancer saw it PAID too")
    ws.close()
    final = Client(PUBLIC, demo).data("query($id: ID!) { order(id: $id) { status } }", {"id": order["id"]})
    check(final["order"]["status"] == "PAID", "the order reads PAID through the balancer")
    watch.close()


# --- 3. flash-sale storm ---------------------------------------------------------------------
def create_product(admin, name, stock, price=1990):
    return Client(PUBLIC, admin).data(
        "mutation($i: CreateProductInput!) { createProduct(input: $i) { id } }",
        {"i": {"name": name, "description": "scripts/cluster-local", "price": price, "stock": stock}},
    )["createProduct"]["id"]


def step_flash_sale(admin):
    print(f"3. flash-sale storm: {QUANTITY} units, {BUYERS} buyers at once", flush=True)
    product = create_product(admin, "Cluster flash " + RUN_ID, 1000)
    now = datetime.now(timezone.utc)
    sale = Client(PUBLIC, admin).data(
        "mutation($i: CreateFlashSaleInput!) { createFlashSale(input: $i) { id status remainingQuantity } }",
        {"i": {"productId": product, "price": 990, "quantity": QUANTITY, "perUserLimit": 1,
               "startsAt": (now - timedelta(seconds=5)).isoformat(),
               "endsAt": (now + timedelta(minutes=10)).isoformat()}},
    )["createFlashSale"]
    check(sale["status"] == "ACTIVE" and sale["remainingQuantity"] == QUANTITY, f"sale {sale['id']} ACTIVE, {QUANTITY} left")

    def buyer(i):
        client = Client(PUBLIC)
        token = client.data(
            "mutation($i: RegisterInput!) { register(input: $i) { accessToken } }",
            {"i": {"email": f"flash-{RUN_ID}-{i}@example.com", "password": "storm-password-1",
                   "displayName": f"Buyer {i}"}})["register"]["accessToken"]
        client.token = token
        address = client.data("mutation($i: AddressInput!) { addAddress(input: $i) { id } }",
                              {"i": dict(ADDRESS, isDefault=True)})["addAddress"]["id"]
        client.close()
        return token, address

    started = time.time()
    buyers = in_parallel(BUYERS, buyer)
    print(f"        {BUYERS} buyers registered with an address in {time.time() - started:.1f} s", flush=True)
    gate = threading.Barrier(BUYERS)

    def purchase(i):
        token, address = buyers[i]
        client = Client(PUBLIC, token)
        client.call("{ __typename }")  # connection open before the gate
        gate.wait()
        return client.data(
            "mutation($i: FlashSalePurchaseInput!) { purchaseFlashSale(input: $i) { id status reason } }",
            {"i": {"flashSaleId": sale["id"], "quantity": 1, "addressId": address,
                   "idempotencyKey": f"storm-{RUN_ID}-{i}"}}, retry=True)["purchaseFlashSale"]

    started = time.time()
    results = in_parallel(BUYERS, purchase, threads=BUYERS)
    took = time.time() - started
    admitted = [(i, r) for i, r in enumerate(results) if r["status"] in ("PENDING", "CONFIRMED")]
    sold_out = [r for r in results if r["status"] == "REJECTED" and r["reason"] == "SOLD_OUT"]
    other = [r for r in results if r not in sold_out and r["status"] not in ("PENDING", "CONFIRMED")]
    check(len(admitted) == QUANTITY and len(sold_out) == BUYERS - QUANTITY and not other,
          f"{len(admitted)} admitted, {len(sold_out)} SOLD_OUT, {len(other)} other ({BUYERS} attempts in {took:.2f} s)")
    confirmed, deadline = {}, time.time() + 30
    while len(confirmed) < len(admitted) and time.time() < deadline:
        for i, r in admitted:
            if i in confirmed:
                continue
            p = Client(PUBLIC, buyers[i][0]).data(
                "query($id: ID!) { flashSalePurchase(id: $id) { status order { id status } } }",
                {"id": r["id"]})["flashSalePurchase"]
            if p["status"] == "CONFIRMED" and p["order"]:
                confirmed[i] = p["order"]
        time.sleep(0.5)
    check(len(confirmed) == QUANTITY and all(o["status"] == "PENDING_PAYMENT" for o in confirmed.values()),
          f"{len(confirmed)} purchases CONFIRMED with an order PENDING_PAYMENT")
    sales = Client(PUBLIC).data("{ flashSales(status: ACTIVE) { id remainingQuantity } }")["flashSales"]
    left = [s["remainingQuantity"] for s in sales if s["id"] == sale["id"]]
    check(left == [0], f"the sale has {left[0] if left else '?'} units left: exactly {QUANTITY} sold")


# --- 4./6. throughput ----------------------------------------------------------------------
def measure_reads(label):
    if shutil.which("wrk") and WRK_SCRIPT:
        env = dict(os.environ, CLUSTER_READ_QUERY=READ.replace('"', '\\"'))
        out = subprocess.run(
            ["wrk", "-t2", f"-c{BENCH_CONNECTIONS}", f"-d{BENCH_SECONDS}s", "-s", WRK_SCRIPT, PUBLIC],
            capture_output=True, text=True, env=env, check=True).stdout
        line = next(l for l in out.splitlines() if l.startswith("RESULT "))
        fields = dict(kv.split("=") for kv in line.split()[1:])
        rps = int(fields["requests"]) / float(fields["seconds"])
        errors = int(fields["bad"]) + int(fields["socket_errors"])
        p50, p99 = float(fields["p50_ms"]), float(fields["p99_ms"])
    else:  # a Python closed loop (slower than the system: a floor, not a ceiling)
        stats, stop, latencies = Stats(), time.time() + BENCH_SECONDS, []

        def loop(_):
            client, mine = Client(PUBLIC), []
            while time.time() < stop:
                sent = time.time()
                try:
                    client.data(READ)
                except Exception as error:  # noqa: BLE001
                    stats.note("error", str(error))
                mine.append(time.time() - sent)
            latencies.extend(mine)

        started = time.time()
        in_parallel(BENCH_CONNECTIONS, loop, threads=BENCH_CONNECTIONS)
        rps = len(latencies) / (time.time() - started)
        latencies.sort()
        p50, p99 = latencies[len(latencies) // 2] * 1000, latencies[int(len(latencies) * 0.99)] * 1000
        errors = stats.get("error")
    print(f"        {label}: {rps:,.0f} req/s, p50 {p50:.2f} ms, p99 {p99:.2f} ms, {errors} errors", flush=True)
    check(errors == 0, f"no errors measuring {label}")
    return rps, p50, p99


# --- 5. replicas stopped under load --------------------------------------------------------
def step_stop_replicas(demo, admin):
    print(f"5. reads and checkouts for {LOAD_SECONDS:.0f} s; router b and replica b of every subgraph get SIGTERM", flush=True)
    product = create_product(admin, "Cluster load " + RUN_ID, 1_000_000, price=100)
    pids = dict(line.split() for line in open(PIDS) if line.strip())
    victims = [name for name in pids if name == "router-b" or name.endswith("-b")]
    stats, stop = Stats(), time.time() + LOAD_SECONDS
    orders = set()
    orders_lock = threading.Lock()
    before = haproxy_retries()

    def reader(_):
        client = Client(PUBLIC)
        while time.time() < stop:
            try:
                client.data(READ, retry=True, stats=stats)
                stats.note("read")
            except Exception as error:  # noqa: BLE001
                stats.note("failed", f"read: {error}")

    def buyer(w):
        client, n = Client(PUBLIC, demo), 0
        while time.time() < stop:
            n += 1
            key = f"load-{RUN_ID}-{w}-{n}"
            try:
                order = client.data(
                    "mutation($i: CheckoutInput!) { checkout(input: $i) { id status } }",
                    {"i": {"idempotencyKey": key, "address": ADDRESS,
                           "items": [{"productId": product, "quantity": 1}]}},
                    retry=True, stats=stats)["checkout"]
                with orders_lock:
                    orders.add(order["id"])
                stats.note("checkout")
            except Exception as error:  # noqa: BLE001
                stats.note("failed", f"checkout {key}: {error}")

    workers = [threading.Thread(target=reader, args=(i,)) for i in range(6)]
    workers += [threading.Thread(target=buyer, args=(i,)) for i in range(2)]
    for t in workers:
        t.start()
    time.sleep(LOAD_SECONDS / 4)
    stopped_at = time.time()
    for name in victims:
        os.kill(int(pids[name]), signal.SIGTERM)
    print(f"        SIGTERM to {', '.join(victims)} at t={LOAD_SECONDS / 4:.0f} s", flush=True)
    for t in workers:
        t.join()
    # Every stopped process has exited, and HAProxy has them DOWN.
    deadline = time.time() + 30
    while time.time() < deadline and any(os.path.exists(f"/proc/{pids[n]}") and
                                         open(f"/proc/{pids[n]}/stat").read().split()[2] != "Z"
                                         for n in victims):
        time.sleep(0.2)
    still = [n for n in victims if os.path.exists(f"/proc/{pids[n]}") and
             open(f"/proc/{pids[n]}/stat").read().split()[2] != "Z"]
    check(not still, f"the stopped processes had all exited when checked, {time.time() - stopped_at:.0f} s after SIGTERM"
          + (f"; still running: {still}" if still else ""))
    servers = haproxy_servers()
    check(all(servers.get(n, "").startswith("DOWN") for n in victims),
          "HAProxy has every stopped one DOWN: " + ", ".join(f"{n} {servers.get(n)}" for n in victims))
    after = haproxy_retries()
    print(f"        {stats.get('read')} reads, {stats.get('checkout')} checkouts ({len(orders)} orders); "
          f"client retries {stats.get('retried')}, failures {stats.get('failed')}; HAProxy retries "
          f"{after['retries'] - before['retries']}, redispatches {after['redispatches'] - before['redispatches']}",
          flush=True)
    for kind in ("retried", "failed"):
        for example in stats.examples.get(kind, []):
            print(f"          {kind}: {example}", flush=True)
    check(stats.get("failed") == 0, "no client errors beyond retried ones")
    check(len(orders) == stats.get("checkout"), "every checkout made its own order (retries made none twice)")
    return stats


def main():
    demo, admin = step_sign_in()
    step_checkout_pay_live(demo)
    step_flash_sale(admin)
    print("4. read throughput, both routers and both replicas of each subgraph", flush=True)
    full = measure_reads("2 routers, 2 replicas each")
    step_stop_replicas(demo, admin)
    print("6. read throughput, one router and one replica of each subgraph", flush=True)
    half = measure_reads("1 router, 1 replica each")
    print()
    print("| topology | reads/s | p50 (ms) | p99 (ms) |")
    print("|---|---|---|---|")
    print(f"| 2 routers, 2 replicas of each subgraph | {full[0]:,.0f} | {full[1]:.2f} | {full[2]:.2f} |")
    print(f"| 1 router, 1 replica of each subgraph | {half[0]:,.0f} | {half[1]:.2f} | {half[2]:.2f} |")
    print(f"ratio (2 / 1): {full[0] / half[0]:.2f} ({os.cpu_count()} cores shared by everything, the load generator included)")
    print()
    if failures:
        print(f"SMOKE FAILED: {len(failures)} check(s): " + "; ".join(failures))
        return 1
    print("SMOKE PASSED")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as error:  # noqa: BLE001
        print(f"SMOKE FAILED: {error}", flush=True)
        sys.exit(1)
