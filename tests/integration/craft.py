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
        from scapy.all import sendp  # noqa: F401 (EXPR uses scapy's names)
        import scapy.all as scapy

        iface, count, expr = sys.argv[2], int(sys.argv[3]), sys.argv[4]
        frame = eval(expr, vars(scapy))
        sendp(frame, iface=iface, count=count, verbose=False)
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
