"""Test harness: build a small system from inline assembly and run it to its end.

`run_system(tmp_path, programs, **limits)` writes each program's source and a
system.toml into `tmp_path`, builds the image with the real toolchain, boots it with the
console, printer and trace captured in memory, runs it, and returns a `Run` with the
end reason, the trace events, the console and printer bytes, the kernel and the loaded
programs (for symbols), so a test can check error codes, trace contents and memory.

A program is a dict: `label`, `source` (assembly text; `.include "abi.inc"` is added
when missing), and any policy field of system.toml (`kind` defaults to "server", `ipc`
to every primitive, `targets` to ["ALL"], `kernel_calls` to ["EXIT", "DIAGCTL"]).
"""

import io
import json
from dataclasses import dataclass, field

from emu.session import BootOptions, Session
from tools.build import build_image

ALL_PRIMITIVES = ["SEND", "RECEIVE", "SENDREC", "NOTIFY", "NBSEND", "ASEND"]

# Common snippets for test programs
EXIT_WITH_EDX = """
    mov dword ptr [exit_msg + M_TYPE], SYS_EXIT
    mov [exit_msg + EXIT_STATUS], edx
    mov eax, SYSTEM
    lea ebx, [exit_msg]
    mov ecx, SENDREC
    int IPC_VEC
    ud2
"""


@dataclass
class Run:
    end: str
    events: list
    console: bytes
    printer: bytes
    session: Session
    trace_text: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def kernel(self):
        return self.session.kernel

    def proc(self, label):
        """The process (slot) that ran `label` most recently, alive or not."""
        index = self.kernel.labels[label]
        return self.kernel.table.procs[index]

    def symbol(self, label, name):
        loaded = self.session.programs[self.kernel.labels[label]]
        return loaded.symbols[name][0] if isinstance(loaded.symbols[name], tuple) \
            else loaded.symbols[name]

    def word(self, label, name, offset=0, signed=True):
        """A 32-bit word of `label`'s memory at symbol `name` + offset."""
        proc = self.proc(label)
        data = proc.cpu.read(self.symbol(label, name) + offset, 4)
        return int.from_bytes(data, "little", signed=signed)

    def bytes_at(self, label, name, size, offset=0):
        proc = self.proc(label)
        return proc.cpu.read(self.symbol(label, name) + offset, size)

    def ipc_events(self, proc=None, op=None):
        return [e for e in self.events if e["ev"] == "ipc"
                and (proc is None or e["proc"] == proc) and (op is None or e["op"] == op)]

    def of(self, ev, proc=None):
        return [e for e in self.events if e["ev"] == ev and (proc is None or e["proc"] == proc)]


def toml_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int,)):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    return "[" + ", ".join(toml_value(v) for v in value) + "]"


def write_system(tmp_path, programs):
    lines = []
    for program in programs:
        program = dict(program)
        source = program.pop("source")
        if ".include" not in source:
            source = '.include "abi.inc"\n' + source
        name = f"{program['label']}.asm"
        (tmp_path / name).write_text(source)
        program.setdefault("kind", "server")
        program.setdefault("ipc", ALL_PRIMITIVES)
        program.setdefault("targets", ["ALL"])
        program.setdefault("kernel_calls", ["EXIT", "DIAGCTL"])
        lines.append("[[program]]")
        lines.append(f"source = {toml_value(name)}")
        for key, value in program.items():
            lines.append(f"{key} = {toml_value(value)}")
        lines.append("")
    system = tmp_path / "system.toml"
    system.write_text("\n".join(lines))
    return system


def build_system(tmp_path, programs):
    system = write_system(tmp_path, programs)
    image_path = tmp_path / "test.img"
    build_image(system, image_path, tmp_path / "build")
    return image_path


def boot(image_path, input_bytes=b"", **limits):
    from tools.image import read_image
    console, printer, trace, log = io.BytesIO(), io.BytesIO(), io.StringIO(), io.StringIO()
    options = BootOptions(printer=None, input_bytes=input_bytes, console=console, log=log,
                          **limits)
    session = Session(read_image(image_path), options, trace_stream=trace,
                      printer_stream=printer)
    return session, console, printer, trace


def run_image(image_path, input_bytes=b"", **limits):
    limits.setdefault("max_ticks", 200)
    session, console, printer, trace = boot(image_path, input_bytes, **limits)
    end = session.run()
    text = trace.getvalue()
    events = [json.loads(line) for line in text.splitlines()]
    return Run(end, events, console.getvalue(), printer.getvalue(), session, text)


def run_system(tmp_path, programs, input_bytes=b"", **limits):
    return run_image(build_system(tmp_path, programs), input_bytes, **limits)
