#!/usr/bin/env python3
"""Native stand-ins for the guest services, used only by RRVM_IT_NATIVE=1 to
check the integration tests' own logic without a VM.

  standin.py echo ADDR   TCP and UDP echo on port 7
  standin.py http ADDR   HTTP/1.1 keep-alive on port 80:
                         GET / , GET /counter, GET|PUT /kv/KEY, else 404
"""
import socket
import socketserver
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class TCPEcho(socketserver.BaseRequestHandler):
    def handle(self):
        while True:
            data = self.request.recv(65536)
            if not data:
                return
            self.request.sendall(data)


class UDPEcho(socketserver.BaseRequestHandler):
    def handle(self):
        data, sock = self.request
        sock.sendto(data, self.client_address)


class Threaded(socketserver.ThreadingMixIn, socketserver.TCPServer):
    allow_reuse_address = True
    daemon_threads = True


def echo(addr):
    udp = socketserver.UDPServer((addr, 7), UDPEcho)
    threading.Thread(target=udp.serve_forever, daemon=True).start()
    Threaded((addr, 7), TCPEcho).serve_forever()


class HTTP(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    counter = 0
    kv = {}
    lock = threading.Lock()

    def reply(self, code, body):
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path == "/":
            self.reply(200, b"rrvm http stand-in\n")
        elif self.path == "/counter":
            with HTTP.lock:
                HTTP.counter += 1
                n = HTTP.counter
            self.reply(200, b"%d\n" % n)
        elif self.path.startswith("/kv/") and self.path[4:] in HTTP.kv:
            self.reply(200, HTTP.kv[self.path[4:]])
        else:
            self.reply(404, b"not found\n")

    def do_PUT(self):
        if not self.path.startswith("/kv/") or len(self.path) <= 4:
            self.reply(404, b"not found\n")
            return
        n = int(self.headers.get("Content-Length", "0"))
        HTTP.kv[self.path[4:]] = self.rfile.read(n)
        self.reply(200, b"OK\n")


def main():
    kind, addr = sys.argv[1], sys.argv[2]
    if kind == "echo":
        echo(addr)
    elif kind == "http":
        ThreadingHTTPServer.daemon_threads = True
        ThreadingHTTPServer((addr, 80), HTTP).serve_forever()
    else:
        sys.exit("unknown stand-in " + kind)


if __name__ == "__main__":
    main()
