#!/usr/bin/env python3
"""Ordinary peers for the filter tests: UDP request/response and short TCP
connections, each side counting what it did, so a test can tell that the
traffic really happened.

  peers.py udp-echo ADDR PORT N      answer N datagrams, then exit
  peers.py udp-ask ADDR PORT N       N exchanges, each from a new socket (port)
  peers.py tcp-accept ADDR PORT N    accept N connections, echo a line, close
  peers.py tcp-connect ADDR PORT N   N connections, one line each
"""
import socket
import sys


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def main():
    role, addr, port, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    done = 0
    if role == "udp-echo":
        s = socket.socket(family(addr), socket.SOCK_DGRAM)
        s.bind((addr, port))
        s.settimeout(30)
        while done < n:
            data, peer = s.recvfrom(2048)
            s.sendto(data, peer)
            done += 1
    elif role == "udp-ask":
        for i in range(n):
            with socket.socket(family(addr), socket.SOCK_DGRAM) as s:
                s.settimeout(2)
                s.sendto(b"query %d" % i, (addr, port))
                if s.recv(2048) == b"query %d" % i:
                    done += 1
        print("%d answered" % done)
    elif role == "tcp-accept":
        s = socket.socket(family(addr), socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((addr, port))
        s.listen(128)
        s.settimeout(30)
        while done < n:
            c, _ = s.accept()
            with c:
                c.sendall(c.recv(64))
            done += 1
    elif role == "tcp-connect":
        for i in range(n):
            with socket.create_connection((addr, port), timeout=2) as c:
                c.sendall(b"hello %d\n" % i)
                if c.recv(64) == b"hello %d\n" % i:
                    done += 1
        print("%d connected" % done)
    else:
        sys.exit("unknown role " + role)
    return 0 if done == n else 1


if __name__ == "__main__":
    sys.exit(main())
