"""The system under fuzz: its guest programs, their policies, and its system.toml.

Contract: `PROGRAMS` lists (label, assembly source, policy) in slot order: slot i runs
program i, so `INDEX[label]` is both.  Two untrusted fuzzers (`FUZZERS`), whose program is
nothing but `int 0x21` in a loop with ecx, eax and ebx loaded from the control block `ctl`
in their own data (the host writes it: `inject`), and `SCRATCH` bytes of bss for the
messages and tables of their cases; next to them a server that receives and replies (by
NBSEND) and grants the last fuzzer that asked some of its memory, a sink, processes
blocked in each IPC state (receiving from one peer, sending, in the receive half of
SENDREC), a client that asks the server every clock tick and checks the answer
(`PING` + 1), and an outsider no fuzzer may reach.  Every passive program keeps the
variables the kernel may write between its symbols `vars` and `vars_end`; the checks
compare the rest of its window with its image.  `build_image()` writes the sources and
the system.toml into a temporary folder and builds them.
"""

import tempfile
from pathlib import Path

PING = 0x4242                 # the client's request to the server; the answer is PING + 1
SCRATCH = 0x3000              # bytes of scratch in a fuzzer's bss (messages, tables)

FUZZER = """
.text
_start:
    mov ecx, [ctl]
    mov eax, [ctl + 4]
    mov ebx, [ctl + 8]
    int IPC_VEC
    jmp _start
.data
ctl:
    .long 0, 0, 0
.bss
scratch:
    .space SCRATCH
"""
RECEIVER = """
.text
_start:
    mov eax, {source}
    lea ebx, [inbox]
    mov ecx, RECEIVE
    int IPC_VEC
    inc dword ptr [count]
    jmp _start
.bss
vars:
inbox:
    .space MSG_SIZE
count:
    .space 4
vars_end:
"""
SERVER = """
.text
_start:
    mov dword ptr [setgrant + M_TYPE], SYS_SETGRANT
    lea eax, [grants]
    mov [setgrant + SG_ADDR], eax
    mov dword ptr [setgrant + SG_COUNT], 6
    mov eax, SYSTEM
    lea ebx, [setgrant]
    mov ecx, SENDREC
    int IPC_VEC
serve:
    mov eax, ANY
    lea ebx, [inbox]
    mov ecx, RECEIVE
    int IPC_VEC
    test eax, eax
    jnz serve
    cmp dword ptr [inbox + M_TYPE], NOTIFY_MESSAGE
    je serve
    mov eax, [inbox + M_SOURCE]
    cmp eax, EP_CLIENT
    je answer
    mov [grants + GRANT_GRANTEE], eax
    mov [grants + GRANT_ENTRY_SIZE + GRANT_GRANTEE], eax
    mov [grants + 3 * GRANT_ENTRY_SIZE + GRANT_GRANTEE], eax
    mov [grants + 4 * GRANT_ENTRY_SIZE + GRANT_GRANTEE], eax
    mov [grants + 5 * GRANT_ENTRY_SIZE + GRANT_GRANTEE], eax
answer:
    inc dword ptr [inbox + M_TYPE]
    inc dword ptr [count]
    mov eax, [inbox + M_SOURCE]
    lea ebx, [inbox]
    mov ecx, NBSEND
    int IPC_VEC
    jmp serve
.data
vars:
grants:                                 # grantee: the last fuzzer that sent a request
    .long CPF_VALID | CPF_WRITE, EP_FUZZ_A, granted, 128
    .long CPF_VALID | CPF_READ, EP_FUZZ_A, granted, 128
    .long CPF_VALID | CPF_READ | CPF_WRITE, EP_FUZZ_B, granted + 64, 64
    .long CPF_WRITE, EP_FUZZ_A, granted, 128
    .long CPF_VALID | CPF_WRITE, EP_FUZZ_A, _start, 64
    .long CPF_VALID | CPF_WRITE | 0x8000, EP_FUZZ_A, granted, 128
.bss
inbox:
    .space MSG_SIZE
count:
    .space 4
setgrant:
    .space MSG_SIZE
granted:
    .space 128
vars_end:
"""
SENDER = """
.text
_start:
    mov eax, {target}
    lea ebx, [inbox]
    mov ecx, {primitive}
    int IPC_VEC
    inc dword ptr [count]
    jmp _start
.bss
vars:
inbox:
    .space MSG_SIZE
count:
    .space 4
vars_end:
"""
CLIENT = """
.text
_start:
    mov dword ptr [alarm + M_TYPE], SYS_SETALARM
    mov dword ptr [alarm + ALARM_TICKS], 1
    mov eax, SYSTEM
    lea ebx, [alarm]
    mov ecx, SENDREC
    int IPC_VEC
    test eax, eax
    jnz failed
    mov eax, CLOCK
    lea ebx, [wake]
    mov ecx, RECEIVE
    int IPC_VEC
    test eax, eax
    jnz failed
    inc dword ptr [round]
    mov eax, [round]
    mov [request + M_W0], eax
    mov dword ptr [request + M_TYPE], PING
    mov eax, EP_SERVER
    lea ebx, [request]
    mov ecx, SENDREC
    int IPC_VEC
    test eax, eax
    jnz failed
    mov eax, -1000
    cmp dword ptr [request + M_SOURCE], EP_SERVER
    jne failed
    cmp dword ptr [request + M_TYPE], PING + 1
    jne failed
    mov ecx, [round]
    cmp [request + M_W0], ecx
    jne failed
    inc dword ptr [ok]
    jmp _start
failed:
    mov [last_error], eax
    inc dword ptr [bad]
    jmp _start
.bss
vars:
alarm:
    .space MSG_SIZE
wake:
    .space MSG_SIZE
request:
    .space MSG_SIZE
round:
    .space 4
ok:
    .space 4
bad:
    .space 4
last_error:
    .space 4
vars_end:
"""
ALL_IPC = ["SEND", "RECEIVE", "SENDREC", "NOTIFY", "NBSEND", "ASEND"]
DRIVER_CALLS = ["DEVIO", "VDEVIO", "SDEVIO", "IRQCTL", "SETGRANT", "SAFECOPYFROM",
                "SAFECOPYTO", "SETALARM", "TIMES", "DIAGCTL", "EXIT"]
PROGRAMS = [  # label, source, policy; slot i = program i
    ("fuzz_a", FUZZER, dict(kind="driver", ipc=ALL_IPC, targets=[
        "SYSTEM", "CLOCK", "fuzz_a", "fuzz_b", "server", "sink", "waiter", "stuck",
        "sendrec_er", "client"], kernel_calls=DRIVER_CALLS, io=["0xAB-0xAD", "0x80-0x83"],
        irq=[7], priority=6, quantum=1)),
    ("fuzz_b", FUZZER, dict(kind="user", ipc=["SENDREC", "RECEIVE", "NOTIFY"],
                            targets=["SYSTEM", "server", "fuzz_a"],
                            kernel_calls=["EXIT", "TIMES", "DIAGCTL"], priority=6, quantum=1)),
    ("server", SERVER, dict(kind="server", ipc=["RECEIVE", "NBSEND", "SENDREC"],
                            targets=["SYSTEM"], kernel_calls=["SETGRANT"], priority=3)),
    ("sink", RECEIVER.format(source="ANY"), dict(kind="server", ipc=["RECEIVE"], priority=3)),
    ("waiter", RECEIVER.format(source="EP_CLIENT"), dict(kind="server", ipc=["RECEIVE"],
                                                         priority=3)),
    ("stuck", SENDER.format(target="EP_WAITER", primitive="SEND"),
     dict(kind="driver", ipc=["SEND"], targets=["waiter"], priority=3)),
    ("sendrec_er", SENDER.format(target="EP_SINK", primitive="SENDREC"),
     dict(kind="driver", ipc=["SENDREC"], targets=["sink"], priority=3)),
    ("client", CLIENT, dict(kind="user", ipc=["SENDREC", "RECEIVE"],
                            targets=["SYSTEM", "server"], kernel_calls=["SETALARM"],
                            priority=4)),
    ("outsider", RECEIVER.format(source="ANY"), dict(kind="server", ipc=["RECEIVE"],
                                                     priority=3)),
]
LABELS = tuple(label for label, _, _ in PROGRAMS)
INDEX = {label: i for i, label in enumerate(LABELS)}
FUZZERS = ("fuzz_a", "fuzz_b")


def write_system(folder):
    """The sources and system.toml of the system under fuzz, in `folder`."""
    lines = []
    for label, source, policy in PROGRAMS:
        text = f'.include "abi.inc"\n.equ SCRATCH, {SCRATCH}\n.equ PING, {PING}\n' + source
        (folder / f"{label}.asm").write_text(text)
        lines += ["[[program]]", f'label = "{label}"', f'source = "{label}.asm"']
        for key, value in policy.items():
            shown = f'"{value}"' if isinstance(value, str) else str(value).replace("'", '"')
            lines.append(f"{key} = {shown}")
        lines.append("")
    system = folder / "system.toml"
    system.write_text("\n".join(lines))
    return system


def build_image():
    """The image of the system under fuzz, built in a temporary folder."""
    from tools.build import build_image as build
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        return build(write_system(folder), folder / "fuzz.img", folder / "build")
