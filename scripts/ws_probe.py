#!/usr/bin/env python3
"""A WebSocket client with the standard library only, for scripts/deploy-check.sh.

    ws_probe.py URL [--cafile PEM] [--expect TEXT] [--trigger CMD] [--timeout SECS]

Opens URL (ws:// or wss://), requires `101 Switching Protocols`, then, if --trigger is given,
runs that shell command and reads text frames until one contains --expect (exit 0) or the
timeout passes (exit 1). Prints the upgrade status and the matching frame.
"""

import argparse
import base64
import os
import socket
import ssl
import struct
import subprocess
import sys
import time
from urllib.parse import urlsplit


def read_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError("the connection closed")
        data += chunk
    return data


def read_frame(sock):
    b0, b1 = read_exact(sock, 2)
    opcode, length = b0 & 0x0F, b1 & 0x7F
    if length == 126:
        (length,) = struct.unpack("!H", read_exact(sock, 2))
    elif length == 127:
        (length,) = struct.unpack("!Q", read_exact(sock, 8))
    mask = read_exact(sock, 4) if b1 & 0x80 else None
    payload = read_exact(sock, length)
    if mask:
        payload = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
    return opcode, payload


def send_frame(sock, opcode, payload):
    mask = os.urandom(4)
    header = bytes([0x80 | opcode])
    n = len(payload)
    if n < 126:
        header += bytes([0x80 | n])
    elif n < 65536:
        header += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        header += bytes([0x80 | 127]) + struct.pack("!Q", n)
    sock.sendall(header + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(payload)))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("url")
    p.add_argument("--cafile")
    p.add_argument("--expect")
    p.add_argument("--trigger")
    p.add_argument("--timeout", type=float, default=15)
    a = p.parse_args()
    u = urlsplit(a.url)
    port = u.port or (443 if u.scheme == "wss" else 80)
    sock = socket.create_connection((u.hostname, port), timeout=a.timeout)
    if u.scheme == "wss":
        ctx = ssl.create_default_context(cafile=a.cafile)
        sock = ctx.wrap_socket(sock, server_hostname=u.hostname)
    key = base64.b64encode(os.urandom(16)).decode()
    path = u.path + ("?" + u.query if u.query else "")
    sock.sendall(
        (
            f"GET {path} HTTP/1.1\r\nHost: {u.netloc}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        head += read_exact(sock, 1)
    status = head.split(b"\r\n", 1)[0].decode()
    print(status, flush=True)
    if " 101 " not in status + " ":
        sys.exit(f"no WebSocket upgrade: {head.decode(errors='replace')}")
    if not a.expect:
        return
    if a.trigger:
        subprocess.run(a.trigger, shell=True, check=True, stdout=subprocess.DEVNULL)
    deadline = time.time() + a.timeout
    while time.time() < deadline:
        sock.settimeout(max(0.1, deadline - time.time()))
        try:
            opcode, payload = read_frame(sock)
        except socket.timeout:
            break
        if opcode == 0x9:  # ping: answer it
            send_frame(sock, 0xA, payload)
        elif opcode == 0x8:
            sys.exit(f"the server closed the socket: {payload!r}")
        elif opcode == 0x1 and a.expect in payload.decode():
            print(payload.decode()[:300])
            return
    sys.exit(f"no frame with {a.expect!r} within {a.timeout} s")


if __name__ == "__main__":
    main()
