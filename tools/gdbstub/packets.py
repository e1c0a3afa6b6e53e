"""The commands of the GDB remote protocol, one handler each, over a `GdbTarget`.

Contract: `Packets(target).handle(payload)` answers one packet (its payload, framing and
escapes already undone by `wire`) with a list of reply payloads (several for `qRcmd`'s
output, none for `k`), or `WAIT` when the machine was resumed and nothing in scope can
run (the server then waits for Ctrl-C).  Unknown packets get the empty reply, as the
protocol wants; a malformed one gets `E01`; no packet can raise out of here.
Memory and registers are those of the process of `Hg` (the general thread).
"""

from tools.gdbstub import regs
from tools.gdbstub.monitor import monitor
from tools.gdbstub.wire import escape, unescape

WAIT = object()
SUPPORTED = (b"PacketSize=4000;QStartNoAckMode+;multiprocess+;swbreak+;hwbreak+;"
             b"qXfer:exec-file:read+;QCatchSyscalls+;vContSupported+;exec-events+")
MAX_MEMORY = 0x1000
OK, ERROR, EMPTY = b"OK", b"E01", b""


class Packets:
    def __init__(self, target):
        self.target = target
        self.dbg = target.dbg
        self.no_ack_requested = False
        self.table = [
            ("qSupported", self.q_supported), ("QStartNoAckMode", self.no_ack),
            ("qfThreadInfo", self.q_threads), ("qsThreadInfo", lambda a: [b"l"]),
            ("qThreadExtraInfo,", self.q_extra), ("qXfer:exec-file:read:", self.q_exec),
            ("qRcmd,", self.q_monitor), ("qAttached", lambda a: [b"1"]),
            ("qC", self.q_current), ("qSymbol", lambda a: [OK]),
            ("QCatchSyscalls:", self.catch_syscalls), ("QPassSignals:", lambda a: [OK]),
            ("QProgramSignals:", lambda a: [OK]), ("vCont?", lambda a: [b"vCont;c;C;s;S"]),
            ("vCont;", self.v_cont), ("vKill;", self.v_kill), ("vAttach;", self.v_attach),
            ("vFile:", self.v_file), ("vMustReplyEmpty", lambda a: [EMPTY]),
            ("?", lambda a: [self.target.stop_status()]), ("!", lambda a: [OK]),
            ("H", self.set_thread), ("T", self.thread_alive), ("g", self.read_registers),
            ("G", self.write_registers), ("p", self.read_register),
            ("P", self.write_register), ("m", self.read_memory), ("M", self.write_memory),
            ("X", self.write_binary), ("Z", self.insert), ("z", self.remove),
            ("c", self.legacy_continue), ("C", self.legacy_continue),
            ("s", self.legacy_step), ("S", self.legacy_step), ("D", self.detach),
            ("k", self.kill_all),
        ]

    def handle(self, payload):
        text = payload.decode("latin-1")
        for prefix, handler in self.table:
            if text.startswith(prefix):
                try:
                    return handler(text[len(prefix):])
                except Exception:       # noqa: BLE001 - a malformed packet is E01, always
                    return [ERROR]
        return [EMPTY]

    def proc(self):
        proc = self.target.general_proc()
        if proc is None:
            raise ValueError("no process")
        return proc

    # -- connection and threads ---------------------------------------------------------------
    def q_supported(self, args):
        return [SUPPORTED]

    def no_ack(self, args):
        self.no_ack_requested = True
        return [OK]

    def q_threads(self, args):
        threads = self.target.threads()
        self.target.tell(threads)
        if not threads:
            return [b"l"]
        return [b"m" + b",".join(self.target.thread_id(p) for p in threads)]

    def q_extra(self, args):
        pid, _ = self.target.parse_thread(args)
        proc = self.target.proc(pid)
        if proc is None:
            return [ERROR]
        from emu.debug.views import state_of
        text = f"{proc.label}, {state_of(self.dbg, proc)} (slot {proc.slot}, " \
               f"endpoint {proc.endpoint})"
        return [text.encode().hex().encode()]

    def q_current(self, args):
        proc = self.target.general_proc()
        return [b"QC" + self.target.thread_id(proc)] if proc else [EMPTY]

    def q_exec(self, args):
        annex, _, span = args.partition(":")
        offset, length = (int(x, 16) for x in span.split(","))
        pid = int(annex, 16) if annex else self.target.pid(self.proc())
        if not 1 <= pid <= len(self.target.table.procs):
            return [b"E00"]
        proc = self.target.table.procs[pid - 1]
        if not proc.alive:
            return [b"E00"]
        path = self.target.paths[proc.index].encode()
        chunk = path[offset:offset + length]
        return [(b"l" if offset + length >= len(path) else b"m") + escape(chunk)]

    def q_monitor(self, args):
        text = bytes.fromhex(args).decode("utf-8", "replace")
        lines = monitor(self.target, text)
        output = "".join(line + "\n" for line in lines).encode()
        chunks = [output[i:i + 1000] for i in range(0, len(output), 1000)]
        return [b"O" + chunk.hex().encode() for chunk in chunks] + [OK]

    def set_thread(self, args):
        op, thread = args[:1], args[1:]
        pid, _ = self.target.parse_thread(thread)
        if pid in (-1, 0):
            return [OK]
        if self.target.proc(pid) is None:
            return [ERROR]
        if op == "g":
            self.target.general = pid
        return [OK]

    def thread_alive(self, args):
        pid, _ = self.target.parse_thread(args)
        return [OK if self.target.proc(pid) is not None else ERROR]

    def catch_syscalls(self, args):
        parts = args.split(";")
        if parts[0] == "0":
            self.target.set_catch(None)
        elif parts[0] == "1":
            self.target.set_catch([int(p, 16) for p in parts[1:] if p])
        else:
            return [ERROR]
        return [OK]

    # -- registers and memory -----------------------------------------------------------------
    def read_registers(self, args):
        return [regs.read_all(self.proc().cpu)]

    def write_registers(self, args):
        regs.write_all(self.proc().cpu, args.encode())
        return [OK]

    def read_register(self, args):
        value = regs.read_one(self.proc().cpu, int(args, 16))
        return [value if value is not None else ERROR]

    def write_register(self, args):
        number, _, value = args.partition("=")
        ok = regs.write_one(self.proc().cpu, int(number, 16), value.encode())
        return [OK if ok else ERROR]

    def read_memory(self, args):
        address, length = (int(x, 16) for x in args.split(","))
        length = min(length, MAX_MEMORY)
        proc = self.proc()
        data = self.dbg.read_memory(proc, address, length)
        if not data and length:
            region = proc.cpu.region_of(address, 1)
            if region is not None:
                data = self.dbg.read_memory(proc, address, min(length, region[1] - address))
        if not data and length:
            return [b"E14"]
        return [data.hex().encode()]

    def write_memory(self, args):
        where, _, data = args.partition(":")
        address, length = (int(x, 16) for x in where.split(","))
        data = bytes.fromhex(data)
        return [self._write(address, data, length)]

    def write_binary(self, args):
        where, _, data = args.partition(":")
        address, length = (int(x, 16) for x in where.split(","))
        return [self._write(address, unescape(data.encode("latin-1")), length)]

    def _write(self, address, data, length):
        if len(data) != length:
            return ERROR
        if not length:
            return OK
        return OK if self.dbg.write_memory(self.proc(), address, data) else b"E14"

    def insert(self, args):
        kind, address = self._breakpoint(args)
        if kind is None:
            return [EMPTY]
        proc = self.proc()
        if self.dbg.program_of(address) != proc.index:
            return [ERROR]
        bp = self.dbg.add_breakpoint(address, owner=proc.endpoint, hardware=kind == 1)
        return [OK if bp is not None and bp.cpus else ERROR]

    def remove(self, args):
        kind, address = self._breakpoint(args)
        if kind is None:
            return [EMPTY]
        proc = self.proc()
        bp = self.dbg.find_breakpoint(address, owner=proc.endpoint, hardware=kind == 1)
        if bp is not None:
            self.dbg.delete(bp)
        return [OK]

    @staticmethod
    def _breakpoint(args):
        kind, address, _ = args.split(";")[0].split(",")
        kind = int(kind)
        return (kind if kind in (0, 1) else None), int(address, 16)

    # -- running ------------------------------------------------------------------------------
    def v_cont(self, args):
        actions = []
        for part in args.split(";"):
            if not part:
                continue
            what, _, thread = part.partition(":")
            letter = what[:1]
            if letter not in "cCsSt":
                return [ERROR]
            pid = self.target.parse_thread(thread)[0] if thread else -1
            actions.append((letter, pid))
        return self._resume(actions)

    def legacy_continue(self, args):
        return self._resume([("c", -1)])

    def legacy_step(self, args):
        proc = self.proc()
        return self._resume([("s", self.target.pid(proc)), ("c", -1)])

    def _resume(self, actions):
        reply = self.target.resume(actions)
        return WAIT if reply is None else [reply]

    def v_kill(self, args):
        return [OK if self.target.kill(int(args, 16)) else ERROR]

    def v_attach(self, args):
        pid = int(args, 16)
        if not 1 <= pid <= len(self.target.table.procs):
            return [ERROR]
        proc = self.target.table.procs[pid - 1]
        if not proc.alive:
            return [ERROR]
        self.target.detached.discard(proc.endpoint)
        self.target.finished = None
        return [self.target.thread_reply(proc, 0)]

    def detach(self, args):
        pid = int(args[1:], 16) if args.startswith(";") else None
        self.target.detach(pid)
        return [OK]

    def kill_all(self, args):
        self.target.finished = "killed"
        return []

    def v_file(self, args):
        return [self.target.hostio.handle(args)]
