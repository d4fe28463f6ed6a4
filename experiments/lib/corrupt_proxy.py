#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Fault-injecting TCP proxy for the replication stream (primary -> backup).

    corrupt_proxy.py --listen ADDR:PORT --target ADDR:PORT [--control FIFO]

Point `rrvm primary --backup` at the proxy's --listen address; the proxy
connects each accepted connection to --target (the real `rrvm backup
--listen` address) and forwards bytes both ways. It follows the checkpoint
framing of the primary -> backup direction (docs/checkpoint-format.md: a
24-byte header - magic, type u16, flags u16, length u32, crc u32, epoch u64,
little-endian - then `length` payload bytes), so a fault can be aimed at
the middle of an epoch rather than at a random byte.

Faults are armed by a command and hit the current connection once:

  flip [N]    flip N bytes (default 1) in the payload of the next epoch
              message that has one (PAGES preferred; BEGIN, VCPU, DEVICE or
              END if the epoch has no pages) - the frame's CRC no longer
              matches, so the backup must reject the epoch. The bytes flipped
              are in the middle of the payload.
  flip-conn K like flip (one byte), but only on connection K (1 = the
              first the proxy accepted, 2 = the second...): e.g. one channel
              of a migration over several (`migrate --channels N`).
  flip-chunk  flip one byte at a random offset of the next chunk read from
              the primary, wherever it falls (header or payload; may hit a
              heartbeat).
  cut [MS]    cut the stream in the middle of an epoch: forward the next
              BEGIN and half of the message after it, then close the
              primary's side only. The backup's side stays open and silent,
              as a cut network looks to it (a closed link without a goodbye
              would mean the primary died), until the primary's next
              connection has reached the backup, plus 2 s: the backup
              holds a truncated epoch until the same primary reconnects
              and replaces the link. With MS, accept
              no new connection for MS milliseconds after the cut (the
              primary's reconnection waits in the listen backlog), so the
              backup's state between the cut and the resync can be looked
              at.
  cut-chunk   forward half of the next chunk read from the primary, then
              close both sides.
  hold MS     forward nothing primary -> backup for MS milliseconds (the
              bytes are kept and sent afterwards): a silent link.
  quit        exit.

Commands come one a line from --control (a FIFO the proxy creates if it
does not exist; e.g. `echo flip > FIFO`), or as signals: SIGUSR1 = flip,
SIGUSR2 = cut. SIGTERM/SIGINT end the proxy.

Every event is one JSON object per line on stdout (flushed): listening,
accept (conn, peer), connected, armed, flip (conn, msg type, epoch,
stream offset, bytes), cut (conn, epoch, forwarded bytes), hold, release,
close (conn, who closed, bytes each way), error. Each carries t (seconds,
CLOCK_MONOTONIC, the clock rrvm and the consistency client use) and a
running count of completed epochs seen (END messages forwarded whole).

Traffic: only between the two addresses given. Exit status 0 on quit or a
signal, 2 on bad arguments.
"""

import argparse
import errno
import json
import os
import random
import select
import signal
import socket
import stat
import struct
import sys
import time

HDR = 24
MAGIC = 0x4B435252
TYPES = {1: "BEGIN", 2: "PAGES", 3: "VCPU", 4: "DEVICE", 5: "END",
         64: "HELLO", 65: "ACK", 66: "HEARTBEAT", 67: "RX_DIGESTS"}
CHUNK = 256 * 1024


def now():
    return time.monotonic()


def emit(**kv):
    kv = dict({"t": round(now(), 6)}, **kv)
    sys.stdout.write(json.dumps(kv, sort_keys=False) + "\n")
    sys.stdout.flush()


def hostport(s):
    host, _, port = s.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError("expected ADDR:PORT, got %r" % s)
    return host, int(port)


class Framer:
    """Follows message boundaries of one direction of the stream."""

    def __init__(self):
        self.hdr = b""          # header bytes of the message being read
        self.remaining = 0      # payload bytes still to come
        self.type = None
        self.epoch = None
        self.length = 0
        self.offset = 0         # stream offset (bytes seen so far)
        self.epochs_done = 0
        self.sync = True        # false once the framing makes no sense

    def feed(self, data, on_header=None):
        """Walk data; call on_header(pos_in_data, type, length, epoch) when
        a header completes (pos = index of the first payload byte)."""
        i, n = 0, len(data)
        while i < n and self.sync:
            if self.remaining == 0 and len(self.hdr) < HDR:
                take = min(HDR - len(self.hdr), n - i)
                self.hdr += data[i:i + take]
                i += take
                if len(self.hdr) == HDR:
                    magic, typ, _flags, length, _crc, epoch = struct.unpack(
                        "<IHHIIQ", self.hdr)
                    if magic != MAGIC:
                        self.sync = False
                        break
                    self.type, self.length, self.epoch = typ, length, epoch
                    self.remaining = length
                    if on_header:
                        on_header(i, typ, length, epoch)
                    if length == 0:
                        self._done()
                continue
            take = min(self.remaining, n - i)
            i += take
            self.remaining -= take
            if self.remaining == 0:
                self._done()
        self.offset += n

    def _done(self):
        if self.type == 5:
            self.epochs_done += 1
        self.hdr = b""
        self.remaining = 0


class Conn:
    ids = 0

    def __init__(self, client, peer, target):
        Conn.ids += 1
        self.id = Conn.ids
        self.c = client
        self.peer = "%s:%d" % peer
        self.b = socket.create_connection(target, timeout=2)
        self.b.settimeout(None)
        for s in (self.c, self.b):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.setblocking(True)
        self.framer = Framer()
        self.to_b = 0
        self.to_c = 0
        self.pending = b""      # held bytes (hold command)
        self.hold_until = 0.0
        self.cut_after_begin = False   # cut: BEGIN seen, cut mid next msg
        self.cut_epoch = None
        self.flip_carry = None  # flip position beyond the chunk it was aimed in


class Proxy:
    def __init__(self, args):
        self.args = args
        self.listen = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listen.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listen.bind(args.listen)
        self.listen.listen(4)
        self.conns = []
        self.armed = []         # list of (command, arg, conn or None)
        self.ctl = None
        self.ctl_buf = b""
        self.stop = False
        self.epochs_total = 0
        self.accept_after = 0.0  # no accept() before this (cut MS)
        # Backup-side sockets of cut connections, silent: (sock, close_at)
        # with close_at 0 until a new connection reached the backup.
        self.zombies = []
        if args.control:
            try:
                st = os.stat(args.control)
                if not stat.S_ISFIFO(st.st_mode):
                    raise SystemExit("corrupt_proxy: %s exists and is not a FIFO"
                                     % args.control)
            except FileNotFoundError:
                os.mkfifo(args.control, 0o600)
            # O_RDWR: never sees EOF when a writer goes away.
            self.ctl = os.open(args.control, os.O_RDWR | os.O_NONBLOCK)
        signal.signal(signal.SIGUSR1, lambda *_: self.command("flip"))
        signal.signal(signal.SIGUSR2, lambda *_: self.command("cut"))
        signal.signal(signal.SIGTERM, self.on_stop)
        signal.signal(signal.SIGINT, self.on_stop)
        emit(event="listening", listen="%s:%d" % args.listen,
             target="%s:%d" % args.target, control=args.control)

    def on_stop(self, *_):
        self.stop = True

    def command(self, line):
        w = line.split()
        if not w:
            return
        cmd, arg = w[0], (w[1] if len(w) > 1 else None)
        if cmd == "quit":
            self.stop = True
            return
        if cmd == "hold":
            ms = int(arg or 500)
            for c in self.conns:
                c.hold_until = now() + ms / 1000.0
            emit(event="hold", ms=ms, conns=[c.id for c in self.conns])
            return
        if cmd == "flip-conn":
            if not arg or not arg.isdigit():
                emit(event="error", error="flip-conn needs a connection number")
                return
            self.armed.append(("flip", 1, int(arg)))
            emit(event="armed", command=cmd, arg=arg)
            return
        if cmd not in ("flip", "flip-chunk", "cut", "cut-chunk"):
            emit(event="error", error="unknown command %r" % line.strip())
            return
        self.armed.append((cmd, int(arg) if arg and arg.isdigit() else 1, None))
        emit(event="armed", command=cmd, arg=arg)

    def read_control(self):
        try:
            d = os.read(self.ctl, 4096)
        except BlockingIOError:
            return
        self.ctl_buf += d
        while b"\n" in self.ctl_buf:
            line, self.ctl_buf = self.ctl_buf.split(b"\n", 1)
            self.command(line.decode(errors="replace"))

    def close(self, c, who):
        if c not in self.conns:
            return
        self.conns.remove(c)
        for s in (c.c, c.b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        emit(event="close", conn=c.id, by=who, to_backup=c.to_b,
             to_primary=c.to_c, epochs=c.framer.epochs_done)

    def send_b(self, c, data):
        if not data:
            return
        c.b.sendall(data)
        c.to_b += len(data)

    # --------------------------------------------------- primary -> backup
    def forward_p2b(self, c, data):
        """Apply an armed fault to data (bytes read from the primary), then
        forward. Returns False if the connection was cut."""
        if c.pending or c.hold_until > now():
            c.pending += data
            return True
        fault = self.armed[0] if self.armed else None
        if fault and fault[2] is not None and fault[2] != c.id:
            fault = None  # aimed at another connection
        kind = fault[0] if fault else None
        if kind == "flip-chunk":
            self.armed.pop(0)
            data = bytearray(data)
            pos = random.randrange(len(data))
            data[pos] ^= 0xFF
            emit(event="flip", conn=c.id, mode="chunk",
                 stream_offset=c.framer.offset + pos, bytes=1,
                 chunk_len=len(data), epochs=c.framer.epochs_done)
            c.framer.feed(bytes(data))
            self.send_b(c, bytes(data))
            return True
        if kind == "cut-chunk":
            self.armed.pop(0)
            half = max(1, len(data) // 2)
            self.send_b(c, data[:half])
            emit(event="cut", conn=c.id, mode="chunk",
                 forwarded=c.to_b, chunk_len=len(data),
                 epoch=c.framer.epoch, epochs=c.framer.epochs_done)
            self.close(c, "proxy")
            return False
        if kind == "flip":
            return self._flip_framed(c, data, fault[1])
        if kind == "cut":
            return self._cut_framed(c, data)
        c.framer.feed(data)
        self.send_b(c, data)
        return True

    def _flip_framed(self, c, data, nbytes):
        data = bytearray(data)
        hits = []
        fr = c.framer
        if not fr.sync:
            emit(event="error", error="framing lost; flipping a random byte")
            pos = random.randrange(len(data))
            data[pos] ^= 0xFF
            self.armed.pop(0)
            fr.feed(bytes(data))
            self.send_b(c, bytes(data))
            return True

        # Aim at the middle of the payload of an epoch message: PAGES if
        # the epoch has any, else whatever epoch message with a payload.
        def on_header(pos, typ, length, epoch):
            if hits or length == 0 or not 1 <= typ <= 5:
                return
            if typ != 2 and typ != 5:
                return  # prefer PAGES; END if the epoch had none
            start = pos + length // 2 - nbytes // 2
            hits.append((start, typ, length, epoch))

        # Walk the chunk message by message; the flip position may lie
        # beyond this chunk (a large PAGES payload), so carry it over.
        if c.flip_carry is not None:
            hits.append(c.flip_carry)
            c.flip_carry = None
        base_off = fr.offset
        fr.feed(bytes(data), on_header)
        if hits:
            start, typ, length, epoch = hits[0]
            done = 0
            for k in range(nbytes):
                p = start + k
                if 0 <= p < len(data):
                    data[p] ^= 0xFF
                    done += 1
            if done:
                self.armed.pop(0)
                emit(event="flip", conn=c.id, mode="framed", type=TYPES.get(typ, typ),
                     epoch=epoch, payload_len=length,
                     stream_offset=base_off + max(start, 0), bytes=done,
                     epochs=fr.epochs_done)
            else:
                # Not in this chunk yet: remember where (relative to the
                # next chunk).
                c.flip_carry = (start - len(data), typ, length, epoch)
        self.send_b(c, bytes(data))
        return True

    def _cut_framed(self, c, data):
        fr = c.framer
        cut_at = []

        def on_header(pos, typ, length, epoch):
            if cut_at:
                return
            if typ == 1:
                c.cut_after_begin = True
                c.cut_epoch = epoch
                return
            if c.cut_after_begin and 1 < typ <= 5:
                # Middle of the first message after BEGIN (its header is
                # forwarded, half its payload too).
                cut_at.append((pos + length // 2, typ, length, epoch))

        base_off = fr.offset
        fr.feed(data, on_header)
        if not cut_at:
            self.send_b(c, data)
            return True
        pos, typ, length, epoch = cut_at[0]
        pos = min(pos, len(data))
        self.send_b(c, data[:pos])
        _, pause_ms, _ = self.armed.pop(0)
        if pause_ms > 1:
            self.accept_after = now() + pause_ms / 1000.0
        emit(event="cut", conn=c.id, mode="framed", epoch=epoch,
             inside=TYPES.get(typ, typ), payload_len=length,
             stream_offset=base_off + pos, forwarded=c.to_b,
             epochs=fr.epochs_done,
             accept_paused_ms=pause_ms if pause_ms > 1 else 0)
        self.cut_primary_side(c)
        return False

    def cut_primary_side(self, c):
        """Close the primary's socket; keep the backup's open, silent."""
        self.conns.remove(c)
        try:
            c.c.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        c.c.close()
        self.zombies.append([c.b, 0.0])
        emit(event="close", conn=c.id, by="proxy (primary side only)",
             to_backup=c.to_b, to_primary=c.to_c,
             epochs=c.framer.epochs_done)

    def reap_zombies(self):
        for z in list(self.zombies):
            if z[1] and now() >= z[1]:
                z[0].close()
                self.zombies.remove(z)

    # ------------------------------------------------------------- loop
    def accept(self):
        s, peer = self.listen.accept()
        emit(event="accept", conn=Conn.ids + 1, peer="%s:%d" % peer)
        try:
            c = Conn(s, peer, self.args.target)
        except OSError as e:
            emit(event="error", error="cannot reach target: %s" % e)
            s.close()
            return
        self.conns.append(c)
        emit(event="connected", conn=c.id, target="%s:%d" % self.args.target)
        for z in self.zombies:
            if not z[1]:
                z[1] = now() + 2.0

    def run(self):
        while not self.stop:
            self.reap_zombies()
            rl = []
            timeout = 0.5
            if now() >= self.accept_after:
                rl.append(self.listen)
            else:
                timeout = max(0.0, self.accept_after - now())
            if self.ctl is not None:
                rl.append(self.ctl)
            for c in self.conns:
                rl += [c.c, c.b]
                if c.hold_until:
                    timeout = min(timeout, max(0.0, c.hold_until - now()))
            try:
                r, _, _ = select.select(rl, [], [], timeout)
            except InterruptedError:
                continue
            except OSError as e:
                if e.errno == errno.EINTR:
                    continue
                raise
            for c in list(self.conns):
                if c.hold_until and now() >= c.hold_until:
                    c.hold_until = 0.0
                    data, c.pending = c.pending, b""
                    emit(event="release", conn=c.id, bytes=len(data))
                    try:
                        if data:
                            self.forward_p2b(c, data)
                    except OSError as e:
                        self.close(c, "error: %s" % e)
            if self.ctl is not None and self.ctl in r:
                self.read_control()
            if self.listen in r:
                self.accept()
            for c in list(self.conns):
                if c not in self.conns:
                    continue
                try:
                    if c.c in r:
                        d = c.c.recv(CHUNK)
                        if not d:
                            self.close(c, "primary")
                            continue
                        if not self.forward_p2b(c, d):
                            continue
                    if c in self.conns and c.b in r:
                        d = c.b.recv(CHUNK)
                        if not d:
                            self.close(c, "backup")
                            continue
                        c.c.sendall(d)
                        c.to_c += len(d)
                except OSError as e:
                    self.close(c, "error: %s" % (e.strerror or e))
        for c in list(self.conns):
            self.close(c, "proxy exit")
        for z in self.zombies:
            z[0].close()
        self.listen.close()
        if self.ctl is not None:
            os.close(self.ctl)
        emit(event="exit")


def main():
    ap = argparse.ArgumentParser(
        description="TCP proxy that corrupts or cuts the rrvm replication "
                    "stream on command (see the module docstring).")
    ap.add_argument("--listen", type=hostport, required=True)
    ap.add_argument("--target", type=hostport, required=True)
    ap.add_argument("--control", help="FIFO to read commands from")
    ap.add_argument("--seed", type=int, default=None)
    args = ap.parse_args()
    if args.seed is not None:
        random.seed(args.seed)
    Proxy(args).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
