#!/usr/bin/env python3
"""Servers and clients for the load balancer tests. Each server answers with
its own name, so the client knows which backend it reached; each side counts
what it did, so a test can compare netprobe's statistics with them.

  lb_peers.py serve NAME PORT STATEFILE
      TCP and UDP on PORT, IPv4 and IPv6. A TCP connection gets "NAME\\n" for
      each line "hello\\n", and "NAME BYTES\\n" after "upload BYTES\\n" and
      that many bytes; a UDP datagram gets NAME. STATEFILE holds
      {"accepted": N, "datagrams": N}, rewritten on each change.
  lb_peers.py connect VIP PORT N [--sport-base P] [--upload BYTES]
      N TCP connections, one after the other, each asking once. With
      --sport-base, connection i comes from port P+i (and is reset at the
      end, so the port is free at once). Prints {"backends": {NAME: count},
      "failed": N, "by_sport": {PORT: NAME}}.
  lb_peers.py udp VIP PORT N [--same-socket]
      N UDP queries, each from a new socket (or all from one). Prints
      {"backends": {...}, "failed": N}.
  lb_peers.py hold VIP PORT N STOPFILE
      Opens N connections and asks on each, round after round, until
      STOPFILE exists. Prints {"conns": N, "asked": N, "failed": N,
      "switched": N}: failed exchanges, and answers from another backend
      than the connection's first.
  lb_peers.py idle VIP PORT N GOFILE
      Opens N connections and asks once on each, then sends nothing (idle,
      as a long-lived connection is) until GOFILE exists, then asks once
      more on each. Prints "ready" when idle, then the same as hold, and
      "lost": {NAME: N}, the failed or switched connections by first backend.
"""
import json
import os
import selectors
import socket
import struct
import sys
import time


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def serve(name, port, statefile):
    state = {"accepted": 0, "datagrams": 0}

    def save():
        tmp = statefile + ".tmp"
        with open(tmp, "w") as f:
            json.dump(state, f)
        os.replace(tmp, statefile)

    sel = selectors.DefaultSelector()
    tcp = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    tcp.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind(("::", port))
    tcp.listen(1024)
    tcp.setblocking(False)
    udp = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    udp.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    udp.bind(("::", port))
    udp.setblocking(False)
    sel.register(tcp, selectors.EVENT_READ, "accept")
    sel.register(udp, selectors.EVENT_READ, "udp")
    save()
    conns = {}
    while True:
        for key, _ in sel.select():
            if key.data == "accept":
                c, _ = tcp.accept()
                c.setblocking(False)
                conns[c] = {"buf": b"", "upload": 0, "got": 0}
                sel.register(c, selectors.EVENT_READ, "conn")
                state["accepted"] += 1
                save()
            elif key.data == "udp":
                data, peer = udp.recvfrom(2048)
                udp.sendto(name.encode(), peer)
                state["datagrams"] += 1
                save()
            else:
                c = key.fileobj
                st = conns[c]
                try:
                    data = c.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    sel.unregister(c)
                    c.close()
                    del conns[c]
                    continue
                if st["upload"]:
                    st["got"] += len(data)
                    if st["got"] >= st["upload"]:
                        c.sendall(b"%s %d\n" % (name.encode(), st["got"]))
                        st["upload"] = st["got"] = 0
                    continue
                st["buf"] += data
                while b"\n" in st["buf"]:
                    line, st["buf"] = st["buf"].split(b"\n", 1)
                    if line.startswith(b"upload "):
                        st["upload"] = int(line.split()[1])
                        st["got"] = len(st["buf"])
                        st["buf"] = b""
                        if st["got"] >= st["upload"]:
                            c.sendall(b"%s %d\n" % (name.encode(), st["got"]))
                            st["upload"] = st["got"] = 0
                    else:
                        c.sendall(name.encode() + b"\n")


def ask(c):
    c.sendall(b"hello\n")
    data = b""
    while not data.endswith(b"\n"):
        chunk = c.recv(64)
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data.decode().strip()


def connect(vip, port, n, sport_base=None, upload=0):
    backends, by_sport, failed = {}, {}, 0
    for i in range(n):
        try:
            c = socket.socket(family(vip), socket.SOCK_STREAM)
            c.settimeout(3)
            if sport_base:
                c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                c.bind(("::" if family(vip) == socket.AF_INET6 else "0.0.0.0", sport_base + i))
            c.connect((vip, port))
            if upload:
                c.sendall(b"upload %d\n" % upload + b"x" * upload)
                reply = c.makefile().readline().split()
                if len(reply) != 2 or int(reply[1]) != upload:
                    raise ConnectionError("short upload")
                name = reply[0]
            else:
                name = ask(c)
            if sport_base:
                # A reset frees the port at once (no TIME_WAIT) for the next round.
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                by_sport[sport_base + i] = name
            c.close()
            backends[name] = backends.get(name, 0) + 1
        except OSError:
            failed += 1
    print(json.dumps({"backends": backends, "failed": failed, "by_sport": by_sport}))
    return 0


def udp(vip, port, n, same_socket):
    backends, failed = {}, 0
    s = None
    for i in range(n):
        if s is None or not same_socket:
            if s:
                s.close()
            s = socket.socket(family(vip), socket.SOCK_DGRAM)
            s.settimeout(2)
        try:
            s.sendto(b"query %d" % i, (vip, port))
            name = s.recv(64).decode()
            backends[name] = backends.get(name, 0) + 1
        except OSError:
            failed += 1
    print(json.dumps({"backends": backends, "failed": failed}))
    return 0


def hold(vip, port, n, stopfile):
    conns, first = [], []
    asked = failed = switched = 0
    for _ in range(n):
        c = socket.create_connection((vip, port), timeout=3)
        conns.append(c)
        first.append(ask(c))
    print("ready", flush=True)
    while True:
        stop = os.path.exists(stopfile)
        for i, c in enumerate(conns):
            asked += 1
            try:
                if ask(c) != first[i]:
                    switched += 1
            except OSError:
                failed += 1
        if stop:
            break
        time.sleep(0.05)
    print(json.dumps({"conns": n, "asked": asked, "failed": failed, "switched": switched,
                      "backends": {b: first.count(b) for b in set(first)}}))
    return 0


def idle(vip, port, n, gofile):
    conns = [socket.create_connection((vip, port), timeout=3) for _ in range(n)]
    first = [ask(c) for c in conns]
    print("ready", flush=True)
    while not os.path.exists(gofile):
        time.sleep(0.05)
    failed = switched = 0
    lost = {}
    for i, c in enumerate(conns):
        try:
            ok = ask(c) == first[i]
            switched += not ok
        except OSError:
            ok = False
            failed += 1
        if not ok:
            lost[first[i]] = lost.get(first[i], 0) + 1
    print(json.dumps({"conns": n, "asked": n, "failed": failed, "switched": switched,
                      "backends": {b: first.count(b) for b in set(first)}, "lost": lost}))
    return 0


def option(name, default=None):
    if name in sys.argv:
        return sys.argv[sys.argv.index(name) + 1]
    return default


def main():
    role = sys.argv[1]
    if role == "serve":
        return serve(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    vip, port, n = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    if role == "connect":
        base = option("--sport-base")
        return connect(vip, port, n, int(base) if base else None, int(option("--upload", 0)))
    if role == "udp":
        return udp(vip, port, n, "--same-socket" in sys.argv)
    if role == "hold":
        return hold(vip, port, n, sys.argv[5])
    if role == "idle":
        return idle(vip, port, n, sys.argv[5])
    sys.exit("unknown role " + role)


if __name__ == "__main__":
    sys.exit(main())
