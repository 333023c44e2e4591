#!/usr/bin/env python3
"""Crafted packets for the attack tests (scapy), and a counting receiver.

  craft.py send IFACE COUNT EXPR     send COUNT frames built by the scapy EXPR
                                     (Ether()/IPv6(...)/UDP(...), evaluated
                                     with scapy's names) out of IFACE
  craft.py udp-count ADDR PORT SECS  count the datagrams that reach a UDP
                                     socket bound to ADDR:PORT ("::" is
                                     dual-stack) within SECS, or until
                                     SIGTERM; print the count
"""
import signal
import socket
import sys
import time


def main():
    role = sys.argv[1]
    if role == "send":
        import scapy.all as scapy

        iface, count, expr = sys.argv[2], int(sys.argv[3]), sys.argv[4]
        frames = eval(expr, vars(scapy))
        if not isinstance(frames, list):
            frames = [frames]
        # Every frame is built before the first goes out, and then they go
        # out of one raw socket back to back: a burst stays a burst however
        # slowly scapy builds (sendp builds each as it sends it).
        raw = [bytes(p) for f in frames for p in f]
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        s.bind((iface, 0))
        for _ in range(count):
            for b in raw:
                s.send(b)
        s.close()
    elif role == "udp-count":
        addr, port, secs = sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
        # SIGTERM ends the count early: what the socket holds by then counts
        # (the sender has finished), however slow the machine. Caught before
        # the socket is bound, which is when the caller may send it.
        stop = []
        signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
        s = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_DGRAM)
        if ":" in addr:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        s.bind((addr, port))
        deadline, n = time.monotonic() + secs, 0
        while not stop:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            s.settimeout(min(left, 0.1))
            try:
                s.recvfrom(2048)
                n += 1
            except socket.timeout:
                pass
        s.setblocking(False)
        try:
            while True:
                s.recvfrom(2048)
                n += 1
        except BlockingIOError:
            pass
        print(n)
    else:
        sys.exit("unknown role " + role)


if __name__ == "__main__":
    main()
