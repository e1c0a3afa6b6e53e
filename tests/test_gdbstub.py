"""The GDB stub, packet by packet, from a small client written here (every socket has a
timeout): the handshake, threads and their IPC state, registers and memory, the ELF
files served from the image, software and hardware breakpoints, `catch syscall` at
trap entry and return, `vCont` scopes, Ctrl-C, `W` when a process exits, monitor
commands, detach and kill, a restarted driver as a new inferior, and input no stub
may crash on: bad checksums, garbage, oversize and malformed packets, a client that
goes away mid-packet.
"""

import io
import socket
import threading
import time
from contextlib import contextmanager

import pytest

from tests.harness import boot, build_system
from tests.test_debugger import DEMO, ROOT
from tools.build import build_image
from tools.gdbstub.server import serve
from tools.gdbstub.wire import PacketReader, checksum, escape, frame, unescape

TIMEOUT = 20

SPINNER = """
.text
_start:
spin:
    inc eax
    jmp spin
"""


@pytest.fixture(scope="module")
def demo_image(tmp_path_factory):
    return build_system(tmp_path_factory.mktemp("demo"), DEMO)


@pytest.fixture(scope="module")
def spinner_image(tmp_path_factory):
    return build_system(tmp_path_factory.mktemp("spin"), DEMO + [
        {"label": "spinner", "source": SPINNER, "kind": "user", "ipc": [], "targets": []}])


@pytest.fixture(scope="module")
def stock_image(tmp_path_factory):
    out = tmp_path_factory.mktemp("stock")
    build_image(ROOT / "guest" / "system.toml", out / "minix.img", out)
    return out / "minix.img"


class Client:
    """Just enough of gdb's side of the protocol."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.parser = PacketReader()
        self.events = []
        self.acks = True

    def raw(self, data):
        self.sock.sendall(data)

    def event(self):
        deadline = time.monotonic() + TIMEOUT
        while not self.events:
            if time.monotonic() > deadline:
                raise TimeoutError("no reply from the stub")
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("the stub closed the connection")
            self.events += self.parser.feed(data)
        return self.events.pop(0)

    def reply(self):
        while True:
            event = self.event()
            if event[0] == "packet":
                if self.acks:
                    self.raw(b"+")
                return event[1]

    def ask(self, payload):
        if isinstance(payload, str):
            payload = payload.encode()
        self.raw(frame(payload))
        if self.acks:
            assert self.event() == ("ack",)
        return self.reply()

    def monitor(self, command):
        self.raw(frame(b"qRcmd," + command.encode().hex().encode()))
        if self.acks:
            assert self.event() == ("ack",)
        text = b""
        while True:
            reply = self.reply()
            if not reply.startswith(b"O") or reply == b"OK":
                assert reply == b"OK"
                return text.decode()
            text += bytes.fromhex(reply[1:].decode())

    def close(self):
        self.sock.close()


@contextmanager
def stub(image, **limits):
    limits.setdefault("max_ticks", 100000)         # every run here ends, whatever happens
    session, console, printer, trace = boot(image, **limits)
    ready, result = threading.Event(), {}

    def run():
        try:
            result["end"] = serve(session, 0, True, io.StringIO(),
                                  on_listen=lambda port: (result.update(port=port),
                                                          ready.set()))
        except BaseException as error:          # noqa: BLE001 - reported by the test
            result["error"] = error
            ready.set()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(TIMEOUT)
    client = Client(result["port"])
    try:
        yield client, session, result, thread
    finally:
        client.close()
        thread.join(TIMEOUT)
    assert "error" not in result, result.get("error")


def finish(thread, result):
    thread.join(TIMEOUT)
    assert not thread.is_alive()
    return result.get("end")


def symbol(session, label, name):
    index = session.kernel.labels[label]
    return session.programs[index].symbols[name][0]


def word(session, label, name):
    proc = session.kernel.table.procs[session.kernel.labels[label]]
    return int.from_bytes(proc.cpu.read(symbol(session, label, name), 4), "little",
                          signed=True)


# -- the wire --------------------------------------------------------------------------------
def test_wire_framing_escapes_and_garbage():
    assert frame(b"OK") == b"$OK#9a"
    data = bytes(range(256))
    assert unescape(escape(data)) == data
    assert b"#" not in escape(data) and b"$" not in escape(data)
    reader = PacketReader()
    events = reader.feed(b"xx+-\x03$OK#9a$OK#00$a$b#62")
    assert events == [("ack",), ("nack",), ("interrupt",), ("packet", b"OK"),
                      ("bad", b"OK"), ("packet", b"b")]
    pieces = [reader.feed(bytes((b,))) for b in b"$qC#b4"]
    assert pieces[-1] == [("packet", b"qC")] and not any(pieces[:-1])
    assert reader.feed(b"$" + b"A" * 70000 + b"#00") == [("bad", b"")]
    assert reader.feed(b"$g#zz") == [("bad", b"g")]
    assert checksum(b"g") == 0x67


# -- the handshake and threads -----------------------------------------------------------------
def test_handshake_threads_and_no_ack_mode(demo_image):
    with stub(demo_image) as (gdb, session, result, thread):
        features = gdb.ask("qSupported:multiprocess+;swbreak+;xmlRegisters=i386")
        for feature in (b"multiprocess+", b"QCatchSyscalls+", b"qXfer:exec-file:read+",
                        b"swbreak+", b"hwbreak+", b"QStartNoAckMode+"):
            assert feature in features
        assert gdb.ask("vMustReplyEmpty") == b""
        assert gdb.ask("QStartNoAckMode") == b"OK"
        gdb.acks = False
        assert gdb.ask("!") == b"OK"
        assert gdb.ask("?").startswith(b"T05thread:p1.1;")
        assert gdb.ask("qfThreadInfo") == b"mp1.1,p2.2,p3.3"
        assert gdb.ask("qsThreadInfo") == b"l"
        assert gdb.ask("qAttached:2") == b"1"
        extra = bytes.fromhex(gdb.ask("qThreadExtraInfo,p2.2").decode()).decode()
        assert extra.startswith("server, READY") and "slot 1" in extra
        assert gdb.ask("Hgp2.2") == b"OK"
        assert gdb.ask("qC") == b"QCp2.2"
        assert gdb.ask("Tp3.3") == b"OK"
        assert gdb.ask("Tp9.9") == b"E01"
        assert gdb.ask("Hgp9.9") == b"E01"
        assert gdb.ask("vCont?") == b"vCont;c;C;s;S"
        path = gdb.ask("qXfer:exec-file:read:2:0,1000")
        assert path.startswith(b"l") and path.endswith(b"server.elf")
        assert gdb.ask("qFrobnicate") == b""
        assert gdb.ask("D") == b"OK"
        assert finish(thread, result) == "done"
    assert word(session, "client", "reply_type") == 42


def test_registers_and_memory(demo_image):
    with stub(demo_image) as (gdb, session, result, thread):
        gdb.ask("Hgp1.1")
        client = session.kernel.table.procs[0]
        registers = gdb.ask("g")
        assert len(registers) == 16 * 8
        eip = int.from_bytes(bytes.fromhex(registers[64:72].decode()), "little")
        assert eip == client.cpu.eip == symbol(session, "client", "_start")
        assert gdb.ask("p8") == registers[64:72]
        assert gdb.ask("P0=78563412") == b"OK"
        assert client.cpu.registers()["eax"] == 0x12345678
        assert gdb.ask("g")[:8] == b"78563412"
        assert gdb.ask("G" + "00000000" * 8 + registers[64:].decode()) == b"OK"
        assert client.cpu.registers()["eax"] == 0
        assert gdb.ask("p29") == b"ffffffff"                  # orig_eax
        assert len(gdb.ask("p10")) == 20                      # st0: 10 bytes
        assert len(gdb.ask("p20")) == 32                      # xmm0: 16 bytes
        assert gdb.ask("p99") == b"E01"
        text = session.programs[0].text
        assert gdb.ask(f"m{eip:x},10") == text[:16].hex().encode()
        request = symbol(session, "client", "request")
        assert gdb.ask(f"M{request:x},4:efbeadde") == b"OK"
        assert gdb.ask(f"m{request:x},4") == b"efbeadde"
        binary = bytes((0x23, 0x24, 0x7D, 0x2A))
        assert gdb.ask(b"X%x,4:" % (request + 4) + escape(binary)) == b"OK"
        assert bytes.fromhex(gdb.ask(f"m{request + 4:x},4").decode()) == binary
        assert gdb.ask(f"X{request:x},0:") == b"OK"
        assert gdb.ask("m10,4") == b"E14"
        top = client.cpu.window_base + 0x100000
        assert len(gdb.ask(f"m{top - 2:x},8")) == 4           # up to the end of the stack
        assert gdb.ask("mzz,4") == b"E01"
        assert gdb.ask(f"M{request:x},4:zz") == b"E01"
        assert gdb.ask("D") == b"OK"
        finish(thread, result)


def test_the_elf_files_come_from_the_image(demo_image):
    with stub(demo_image) as (gdb, session, result, thread):
        path = gdb.ask("qXfer:exec-file:read:1:0,1000")[1:]
        assert gdb.ask("vFile:setfs:0") == b"F0"
        reply = gdb.ask(b"vFile:open:" + path.hex().encode() + b",0,0")
        fd = reply[1:].decode()
        data, offset = b"", 0
        while True:
            reply = gdb.ask(f"vFile:pread:{fd},1000,{offset:x}")
            count, _, chunk = reply[1:].partition(b";")
            chunk = unescape(chunk)
            assert len(chunk) == int(count, 16)
            if not chunk:
                break
            data += chunk
            offset += len(chunk)
        assert data == session.image.programs[0].elf
        stat = gdb.ask(f"vFile:fstat:{fd}")
        assert stat.startswith(b"F40;")
        assert int.from_bytes(unescape(stat[4:])[28:36], "big") == len(data)
        assert gdb.ask(f"vFile:close:{fd}") == b"F0"
        assert gdb.ask(f"vFile:close:{fd}") == b"F-1,9"
        assert gdb.ask(b"vFile:open:" + path.hex().encode() + b",1,0") == b"F-1,d"
        assert gdb.ask(b"vFile:open:" + b"/etc/passwd".hex() .encode() + b",0,0") \
            == b"F-1,2"
        assert gdb.ask("vFile:unlink:00") == b"F-1,d"
        assert gdb.ask("vFile:frob:1") == b""
        gdb.ask("D")
        finish(thread, result)


# -- running -----------------------------------------------------------------------------------
def test_breakpoints_software_and_hardware(demo_image):
    with stub(demo_image) as (gdb, session, result, thread):
        start = symbol(session, "server", "_start")
        after = symbol(session, "client", "after_call")
        gdb.ask("Hgp2.2")
        assert gdb.ask(f"Z0,{after:x},1") == b"E01"        # not in the server's program
        assert gdb.ask(f"Z0,{start:x},1") == b"OK"
        assert gdb.ask(f"m{start:x},1") != b"cc"           # gdb sees the original byte
        reply = gdb.ask("vCont;c")
        assert reply.startswith(b"T05swbreak:;thread:p2.2;")
        assert b"08:%s;" % start.to_bytes(4, "little").hex().encode() in reply
        assert gdb.ask(f"z0,{start:x},1") == b"OK"
        gdb.ask("Hgp1.1")
        assert gdb.ask(f"Z1,{after:x},1") == b"OK"
        reply = gdb.ask("vCont;c")
        assert reply.startswith(b"T05hwbreak:;thread:p1.1;")
        assert gdb.ask(f"z1,{after:x},1") == b"OK"
        assert gdb.ask(f"Z2,{after:x},4") == b""           # watchpoints: not supported
        assert gdb.ask("vCont;s:p1.1;c").startswith(b"T05thread:p1.1;")
        assert session.kernel.table.procs[0].cpu.eip == after + 5
        assert gdb.ask("D") == b"OK"
        assert finish(thread, result) == "done"
    assert (word(session, "client", "result1"), word(session, "client", "reply_type"),
            word(session, "client", "result2")) == (0, 42, -104)


def test_catch_syscalls_at_entry_and_return_then_exit(demo_image):
    with stub(demo_image) as (gdb, session, result, thread):
        gdb.ask("qfThreadInfo")
        assert gdb.ask("QCatchSyscalls:1;3") == b"OK"
        reply = gdb.ask("vCont;c")
        assert reply.startswith(b"T05syscall_entry:3;thread:p1.1;")
        client = session.kernel.table.procs[0]
        assert client.cpu.read(client.cpu.eip, 2) == b"\xcd\x21"     # before the trap
        gdb.ask("Hgp1.1")
        assert gdb.monitor("verdict") == "verdict: no trap of this process seen yet\n"
        reply = gdb.ask("vCont;s:p1.1;c")                 # the call blocks: others run
        assert reply.startswith(b"T05syscall_return:3;thread:p1.1;")
        assert gdb.ask("p0") == b"00000000"
        assert "completed by: client RECEIVE <- server" in gdb.monitor("verdict")
        assert gdb.ask("vCont;c").startswith(b"T05syscall_entry:3;thread:p1.1;")
        assert gdb.ask("vCont;c").startswith(b"T05syscall_return:3;thread:p1.1;")
        assert gdb.ask("p0") == (-104 & 0xFFFFFFFF).to_bytes(4, "little").hex().encode()
        assert gdb.ask("QCatchSyscalls:0") == b"OK"
        assert gdb.ask("vCont;c") == b"W00;process:1"
        assert gdb.ask("qfThreadInfo") == b"mp2.2,p3.3"
        assert gdb.ask("vCont;c").startswith(b"W00")       # the run ended
        assert finish(thread, result) == "done"


def test_ctrl_c_stops_a_running_machine(spinner_image):
    with stub(spinner_image) as (gdb, session, result, thread):
        gdb.ask("qfThreadInfo")
        assert gdb.ask("vCont;c") == b"W00;process:1"      # the client is done
        gdb.raw(frame(b"vCont;c"))                          # the spinner never is
        assert gdb.event() == ("ack",)
        time.sleep(0.3)
        gdb.raw(b"\x03")
        reply = gdb.reply()
        assert reply.startswith(b"T02thread:p")
        spinner = session.kernel.table.procs[3]
        assert spinner.insns > 1000
        gdb.raw(frame(b"k"))                                # no reply: the boot ends
        assert finish(thread, result) == "killed"


def test_vcont_scope_keeps_the_others_stopped(demo_image):
    with stub(demo_image) as (gdb, session, result, thread):
        gdb.ask("qfThreadInfo")
        client = session.kernel.table.procs[0]
        eip = client.cpu.eip
        gdb.raw(frame(b"vCont;c:p3.-1"))                   # the outsider only: it blocks
        assert gdb.event() == ("ack",)
        time.sleep(0.3)
        assert client.cpu.eip == eip and client.insns == 0
        gdb.raw(b"\x03")
        assert gdb.reply().startswith(b"T02thread:p")
        outsider = session.kernel.table.procs[2]
        assert outsider.state_text(session.kernel.table) == "RECEIVING from ANY"
        assert gdb.ask("vCont;s:p1.1").startswith(b"T05thread:p1.1;")
        assert client.insns == 1 and session.kernel.table.procs[1].insns == 0
        assert gdb.ask("vKill;3") == b"OK"
        assert not outsider.alive
        assert gdb.ask("D") == b"OK"
        assert finish(thread, result) == "done"


def test_monitor_commands(demo_image):
    with stub(demo_image) as (gdb, session, result, thread):
        gdb.ask("Hgp1.1")
        gdb.ask("vCont;s:p1.1;c")
        ps = gdb.monitor("ps")
        assert "client" in ps and "server" in ps and "outsider" in ps
        assert "SLOT ENDPOINT" in ps
        request = symbol(session, "client", "request")
        message = gdb.monitor(f"msg {request:#x}")
        assert "M_SOURCE" in message and "M_TYPE" in message
        assert "monitor ps" in gdb.monitor("help")
        assert "unknown monitor command" in gdb.monitor("frob")
        assert gdb.monitor("msg nowhere").startswith("msg: ")
        assert "trace: not a count" in gdb.monitor("trace x")
        gdb.ask("vCont;c")
        assert "client SENDREC -> server 0x1234: OK" in gdb.monitor("trace 10")
        gdb.ask("D")
        finish(thread, result)


# -- input no stub may crash on --------------------------------------------------------------
def test_malformed_packets_never_crash_the_stub(demo_image):
    with stub(demo_image) as (gdb, session, result, thread):
        gdb.raw(b"garbage with no packet at all\x00\xff")
        gdb.raw(b"$qC#00")
        assert gdb.event() == ("nack",)
        gdb.raw(b"$" + b"A" * 70000 + b"#00")
        assert gdb.event() == ("nack",)
        for bad in ("mzz", "m1", "M1,2", "X1,zz:", "Z0", "Z0,zz,1", "z1,1", "p", "Pz=1",
                    "Hg", "Hgpzz.1", "qXfer:exec-file:read:zz:0,1",
                    "qXfer:exec-file:read:99:0,1", "vCont;x", "vCont;c:pzz.1",
                    "vKill;zz", "vAttach;99", "D;zz", "QCatchSyscalls:2", "qRcmd,zz",
                    "vFile:open:zz,0,0", "vFile:pread:1", "T", "G12"):
            reply = gdb.ask(bad)
            assert reply in (b"", b"OK") or reply.startswith((b"E", b"F-1")), (bad, reply)
        assert gdb.ask("?").startswith(b"T05thread:p1.1;")
        assert gdb.ask("D") == b"OK"
        assert finish(thread, result) == "done"


def test_a_client_that_goes_away_mid_packet(demo_image):
    with stub(demo_image) as (gdb, session, result, thread):
        gdb.ask("Hgp2.2")
        start = symbol(session, "server", "_start")
        assert gdb.ask(f"Z0,{start:x},1") == b"OK"
        gdb.raw(b"$m1000,")
        gdb.close()
        assert finish(thread, result) == "done"
    server = session.kernel.table.procs[1]
    assert server.cpu.read(start, 1) != b"\xcc"                # its breakpoint is gone
    assert word(session, "client", "reply_type") == 42


def test_a_restarted_driver_appears_as_a_new_inferior(stock_image):
    with stub(stock_image, max_ticks=2000) as (gdb, session, result, thread):
        threads = gdb.ask("qfThreadInfo")
        assert b"p6.6" in threads
        old = session.kernel.table.procs[5].endpoint
        assert gdb.ask("vKill;6") == b"OK"
        for _ in range(20):
            reply = gdb.ask("vCont;c")
            if b"thread:p6.6" in reply:
                break
        assert reply.startswith(b"T05exec:")
        path = bytes.fromhex(reply[8:reply.index(b";")].decode())
        assert path.endswith(b"printer.elf")
        new = session.kernel.table.procs[5]
        assert new.alive and new.endpoint != old and new.label == "printer"
        assert b"p6.6" in gdb.ask("qfThreadInfo")
        gdb.ask("D")
        finish(thread, result)


def test_gdb_attaches_to_a_running_machine(spinner_image):
    session, _, _, _ = boot(spinner_image, max_ticks=100000)
    ready, result = threading.Event(), {}

    def run():
        result["end"] = serve(session, 0, False, io.StringIO(),
                              on_listen=lambda port: (result.update(port=port), ready.set()))
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert ready.wait(TIMEOUT)
    time.sleep(0.3)                                         # the machine runs meanwhile
    gdb = Client(result["port"])
    try:
        assert gdb.ask("?").startswith(b"T05thread:p")
        spinner = session.kernel.table.procs[3]
        ran = spinner.insns
        assert ran > 0
        assert b"p4.4" in gdb.ask("qfThreadInfo")
        time.sleep(0.2)
        assert spinner.insns == ran                         # stopped while gdb looks
        gdb.raw(frame(b"k"))
        assert finish(thread, result) == "killed"
    finally:
        gdb.close()


def test_gdbinit_and_the_boot_options(demo_image, tmp_path):
    import subprocess
    import sys
    out = tmp_path / "gdbinit"
    done = subprocess.run([sys.executable, "-m", "emu", "gdbinit", str(demo_image),
                           "--port", "4321", "-o", str(out)], capture_output=True,
                          text=True, timeout=TIMEOUT * 3, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    for line in ("set schedule-multiple on", "set remotetimeout 10",
                 "set architecture i386", "target extended-remote 127.0.0.1:4321"):
        assert line in text.splitlines()
    assert "client 1, server 2, outsider 3" in text
    for argv in (["gdbinit", str(tmp_path / "none.img")],
                 ["gdbinit", str(demo_image), "--port", "70000"],
                 ["boot", str(demo_image), "--wait"],
                 ["boot", str(demo_image), "--gdb", "70000"],
                 ["boot", str(demo_image), "--gdb", "x"]):
        bad = subprocess.run([sys.executable, "-m", "emu", *argv], capture_output=True,
                             text=True, timeout=TIMEOUT * 3, cwd=ROOT)
        assert bad.returncode == 2, (argv, bad.stderr)
        assert len(bad.stderr.strip().splitlines()) == 1, bad.stderr
