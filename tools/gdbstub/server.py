"""The GDB stub's server: a socket on 127.0.0.1, one gdb at a time, and the boot's run.

Contract: `serve(session, port, wait, log, on_listen)` runs a boot with a GDB stub
listening on 127.0.0.1:`port` (0: any free port; the port is written to `log` and
given to `on_listen`) and returns the boot's end reason, as `Session.run` does
(`killed` after gdb's `k`).  With `wait`, the machine stays stopped
before its first instruction until gdb connects; without, it runs at once and a gdb
that connects stops it.  While gdb is connected the debugging core is attached (one
process, one inferior); when gdb detaches from every process it knows, disconnects
or dies mid-packet, every breakpoint and catch is removed and the boot runs on to its
end as it would without gdb (another gdb may connect meanwhile).  `k` ends the boot.
A thread reads the socket, so Ctrl-C reaches a running machine; everything else
happens on the caller's thread.  Nothing gdb sends can raise out of here.
"""

import queue
import socket
import sys
import threading

from emu.debug.core import Debugger
from tools.gdbstub.packets import WAIT, Packets
from tools.gdbstub.target import GdbTarget
from tools.gdbstub.wire import PacketReader, frame

HOST = "127.0.0.1"


class Connection:
    """One gdb on a socket: packets in through a reader thread, replies out."""

    def __init__(self, sock, on_interrupt):
        self.sock = sock
        self.on_interrupt = on_interrupt
        self.events = queue.Queue()
        self.parser = PacketReader()
        self.no_ack = False
        self.last = b""
        self.alive = True
        self.thread = threading.Thread(target=self._read, daemon=True, name="gdb-reader")
        self.thread.start()

    def _read(self):
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                data = b""
            if not data:
                self.events.put(None)
                return
            for event in self.parser.feed(data):
                if event[0] == "interrupt":
                    self.on_interrupt()
                self.events.put(event)

    def next(self):
        return self.events.get()

    def send(self, payload):
        self.last = frame(payload)
        self._raw(self.last)

    def ack(self, good=True):
        if not self.no_ack:
            self._raw(b"+" if good else b"-")

    def resend(self):
        if self.last and not self.no_ack:
            self._raw(self.last)

    def _raw(self, data):
        try:
            self.sock.sendall(data)
        except OSError:
            self.alive = False

    def close(self):
        self.alive = False
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class Listener:
    """The listening socket; `accept_in_background` stops a running machine on connect."""

    def __init__(self, port):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((HOST, port))
        self.sock.listen(1)
        self.port = self.sock.getsockname()[1]
        self.accepted = None

    def accept(self):
        sock, _ = self.sock.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def accept_in_background(self, kernel):
        self.accepted = None

        def wait():
            try:
                self.accepted = self.accept()
            except OSError:
                return
            kernel.stop_request = "gdb"
        threading.Thread(target=wait, daemon=True, name="gdb-accept").start()

    def close(self):
        self.sock.close()


def serve(session, port, wait, log=None, on_listen=None):
    log = log or sys.stderr
    listener = Listener(port)
    print(f"emu: gdb stub listening on {HOST}:{listener.port}", file=log, flush=True)
    if on_listen is not None:
        on_listen(listener.port)
    end = None
    try:
        sock = listener.accept() if wait else None
        while end is None:
            if sock is None:
                listener.accept_in_background(session.kernel)
                end = session.run()
                if end == "gdb":
                    end, sock = None, listener.accepted
                continue
            end = _debug(session, sock, log)
            sock = None
    finally:
        listener.close()
    return end


def _debug(session, sock, log):
    """Serve one gdb; the boot's end reason when it ended meanwhile, else None."""
    debugger = Debugger(session).attach()
    target = GdbTarget(debugger)
    packets = Packets(target)
    connection = Connection(sock, debugger.interrupt)
    print("emu: gdb connected", file=log, flush=True)
    try:
        while connection.alive and target.finished is None:
            event = connection.next()
            if event is None:
                break
            kind = event[0]
            if kind == "bad":
                connection.ack(False)
            elif kind == "nack":
                connection.resend()
            elif kind == "packet":
                connection.ack()
                replies = packets.handle(event[1])
                if replies is WAIT:
                    replies = _wait_for_interrupt(connection, target)
                for reply in replies:
                    connection.send(reply)
                if packets.no_ack_requested:
                    connection.no_ack, packets.no_ack_requested = True, False
    finally:
        debugger.interrupted = False
        debugger.detach()
        connection.close()
        print(f"emu: gdb {target.finished or 'disconnected'}", file=log, flush=True)
    if target.finished == "killed":
        return "killed"
    return debugger.end


def _wait_for_interrupt(connection, target):
    """Nothing gdb resumed can run: wait for Ctrl-C (or the end of the connection)."""
    while True:
        event = connection.next()
        if event is None:
            return []
        if event[0] == "interrupt":
            target.dbg.interrupted = False
            return [target.interrupted()]
