#!/usr/bin/python3
"""A TCP sink for the IPFIX-over-TCP tests: listens on ADDRESS PORT and
writes what each connection sends, as it comes, to DIR/conn-N (N counting
on from the files there, so a sink started again goes on), until it is
killed. The records in the files are read back by an IPFIX
reader (libfixbuf's ipfixDump), not here."""
import os
import socket
import sys


def main():
    address, port, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    listener = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((address, port))
    listener.listen(1)
    n = len([f for f in os.listdir(out) if f.startswith("conn-")])
    while True:
        conn, _ = listener.accept()
        n += 1
        with conn, open(os.path.join(out, "conn-%d" % n), "wb", buffering=0) as f:
            while True:
                data = conn.recv(65536)
                if not data:
                    break
                f.write(data)


if __name__ == "__main__":
    main()
