"""system.toml: every rejection names its exact line; defaults; ALL / ALL_SYS; round trips.

Each bad system below marks the line its error must name with `# <-` (written next to the
offending key, or the `[[program]]` header when a key is missing).
"""

from pathlib import Path

import pytest

from kernel import abi
from tools.policy import (PolicyError, ProgramPolicy, SystemConfig, load_system,
                          programs_from_dicts)

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = '[[program]]\nlabel = "{label}"\nsource = "a.asm"\nkind = "{kind}"\n'
A = PROGRAM.format(label="a", kind="driver")


def system(tmp_path, text) -> Path:
    """A system.toml in tmp_path, with the sources `a.asm` and `b.elf` present."""
    (tmp_path / "a.asm").write_text("_start: jmp _start\n")
    (tmp_path / "b.elf").write_bytes(b"")
    path = tmp_path / "system.toml"
    path.write_text(text)
    return path


def marked_line(text) -> int:
    (line,) = [n for n, row in enumerate(text.split("\n"), 1) if row.rstrip().endswith("# <-")]
    return line


def rejected(tmp_path, text) -> PolicyError:
    path = system(tmp_path, text)
    with pytest.raises(PolicyError) as caught:
        load_system(path)
    error = caught.value
    assert str(error).startswith(f"{path}:{error.line}: ")
    assert "\n" not in str(error)
    return error


BAD = {
    # keys
    "unknown key": (A + 'colour = "red"  # <-\n', "unknown key 'colour'"),
    "unknown top-level key": ('version = 1  # <-\n' + A, "unknown key 'version'"),
    "unknown top-level table": (A + '[extra]  # <-\nx = 1\n', "unknown key 'extra'"),
    "sub-table of a program": (A + '[program.limits]  # <-\nx = 1\n', "unknown key 'limits'"),
    "dotted key": (A + 'ipc.send = true  # <-\n', "ipc: expected array"),
    "program not an array": ('[program]  # <-\nlabel = "a"\n', "[[program]] tables"),
    "program an array of values": ('program = [1, 2]  # <-\n', "[[program]] tables"),
    "missing label": ('[[program]]  # <-\nsource = "a.asm"\nkind = "user"\n',
                      "missing required key 'label'"),
    "missing source": ('[[program]]  # <-\nlabel = "a"\nkind = "user"\n',
                       "missing required key 'source'"),
    "missing kind": ('[[program]]  # <-\nlabel = "a"\nsource = "a.asm"\n',
                     "missing required key 'kind'"),
    "missing source file": ('[[program]]\nlabel = "a"\nsource = "gone.asm"  # <-\n'
                            'kind = "user"\n', "source 'gone.asm' not found"),
    "empty source": ('[[program]]\nlabel = "a"\nsource = ""  # <-\nkind = "user"\n',
                     "source '' not found"),
    "source not a string": ('[[program]]\nlabel = "a"\nsource = 1  # <-\nkind = "user"\n',
                            "source: expected string, got integer"),
    # labels
    "label upper case": ('[[program]]\nlabel = "Tty"  # <-\nsource = "a.asm"\nkind = "user"\n',
                         "bad label 'Tty'"),
    "label starts with a digit": ('[[program]]\nlabel = "1a"  # <-\nsource = "a.asm"\n'
                                  'kind = "user"\n', "bad label '1a'"),
    "label with a dash": ('[[program]]\nlabel = "a-b"  # <-\nsource = "a.asm"\n'
                          'kind = "user"\n', "bad label 'a-b'"),
    "label too long": ('[[program]]\nlabel = "abcdefghijklmnop"  # <-\nsource = "a.asm"\n'
                       'kind = "user"\n', "at most 15 characters"),
    "label empty": ('[[program]]\nlabel = ""  # <-\nsource = "a.asm"\nkind = "user"\n',
                    "bad label ''"),
    "label not a string": ('[[program]]\nlabel = 7  # <-\nsource = "a.asm"\nkind = "user"\n',
                           "label: expected string, got integer"),
    "duplicate label": (A + '\n[[program]]\nkind = "user"\nlabel = "a"  # <-\n'
                        'source = "a.asm"\n', "duplicate label 'a'"),
    # kind and restart
    "unknown kind": ('[[program]]\nlabel = "a"\nsource = "a.asm"\nkind = "daemon"  # <-\n',
                     "bad kind 'daemon'"),
    "kind not a string": ('[[program]]\nlabel = "a"\nsource = "a.asm"\nkind = ["user"]  # <-\n',
                          "bad kind of type array"),
    "unknown restart": (A + 'restart = "sometimes"  # <-\n', "bad restart 'sometimes'"),
    "restart not a string": (A + 'restart = true  # <-\n', "bad restart of type boolean"),
    # primitives, kernel calls, targets
    "unknown primitive": (A + 'ipc = ["SEND", "SPAWN"]  # <-\n', "unknown primitive 'SPAWN'"),
    "primitive in lower case": (A + 'ipc = ["send"]  # <-\n', "unknown primitive 'send'"),
    "unknown primitive, multi-line": (A + 'ipc = [  # <-\n  "SEND",\n  "FLOOD",\n]\n',
                                      "unknown primitive 'FLOOD'"),
    "ipc not an array": (A + 'ipc = "SEND"  # <-\n', "ipc: expected array, got string"),
    "ipc entry not a string": (A + 'ipc = [1]  # <-\n', "expected an array of strings"),
    "unknown kernel call": (A + 'kernel_calls = ["DEVIO", "FORK"]  # <-\n',
                            "unknown kernel call 'FORK'"),
    "kernel call with its prefix": (A + 'kernel_calls = ["SYS_DEVIO"]  # <-\n',
                                    "unknown kernel call 'SYS_DEVIO'"),
    "unknown target": (A + 'targets = ["SYSTEM", "nobody"]  # <-\n',
                       "unknown target 'nobody'"),
    "task in lower case": (A + 'targets = ["system"]  # <-\n', "unknown target 'system'"),
    "target not a string": (A + 'targets = [0]  # <-\n', "expected an array of strings"),
    # ports and IRQs
    "port range reversed": (A + 'io = ["0xAD-0xAB"]  # <-\n', "bad port range '0xAD-0xAB'"),
    "port above 0xFFFF": (A + 'io = ["0x10000"]  # <-\n', "bad port range '0x10000'"),
    "port without 0x": (A + 'io = ["AB-AD"]  # <-\n', "bad port range 'AB-AD'"),
    "port range with spaces": (A + 'io = ["0xAB - 0xAD"]  # <-\n', "bad port range"),
    "port range of three": (A + 'io = ["0x1-0x2-0x3"]  # <-\n', "bad port range"),
    "port range empty": (A + 'io = [""]  # <-\n', "bad port range ''"),
    "port as a number": (A + 'io = [0xAB]  # <-\n', "io: expected an array of strings"),
    "irq too high": (A + f'irq = [4, {abi.NR_IRQS}]  # <-\n', f"irq {abi.NR_IRQS} out of range"),
    "irq negative": (A + 'irq = [-1]  # <-\n', "irq -1 out of range"),
    "irq a string": (A + 'irq = ["4"]  # <-\n', "irq: expected an array of integers"),
    "irq a boolean": (A + 'irq = [true]  # <-\n', "got a boolean"),
    # scheduling and heartbeat
    "priority too high": (A + f'priority = {abi.NR_SCHED_QUEUES}  # <-\n', "priority 16 out"),
    "priority negative": (A + 'priority = -1  # <-\n', "priority -1 out of range"),
    "priority a string": (A + 'priority = "2"  # <-\n', "priority: expected integer"),
    "priority a float": (A + 'priority = 2.0  # <-\n', "got float"),
    "quantum zero": (A + 'quantum = 0  # <-\n', "quantum 0 out of range (at least 1)"),
    "quantum a boolean": (A + 'quantum = true  # <-\n', "quantum: expected integer"),
    "heartbeat negative": (A + 'heartbeat = -1  # <-\n', "heartbeat -1 out of range"),
    "heartbeat a date": (A + 'heartbeat = 1979-05-27  # <-\n', "got date-time"),
    # positions the scanner must get right
    "second program": (A + '\n' + PROGRAM.format(label="b", kind="user") +
                       'ipc = ["SEND"]\nquantum = 0  # <-\n', "quantum 0"),
    "key after a multi-line array": (A + 'targets = [\n  "SYSTEM",  # quantum = 5\n]\n'
                                     'quantum = 0  # <-\n', "quantum 0"),
    "bad entry in a multi-line array": (A + 'irq = [  # <-\n  3,\n  99,\n]\n', "irq 99"),
    "quoted key": (A + '"quantum" = 0  # <-\n', "quantum 0"),
    "missing key in the second program": (A + '\n[[program]]  # <-\nlabel = "b"\n'
                                          'source = "a.asm"\n', "missing required key 'kind'"),
    # TOML itself
    "unterminated string": (A + 'restart = "never  # <-\nquantum = 1\n', "Illegal character"),
    "value overwritten": (A + 'kind = "user"  # <-\n', "Cannot overwrite a value"),
    "missing value": (A + 'quantum =  # <-\nheartbeat = 1\n', "Invalid value"),
    "no programs": ('# nothing here  # <-\n', "no [[program]] table"),
}


@pytest.mark.parametrize("text, fragment", BAD.values(), ids=BAD.keys())
def test_rejected_at_its_line(tmp_path, text, fragment):
    error = rejected(tmp_path, text)
    assert fragment in error.message
    assert error.line == marked_line(text)


def test_too_many_programs_names_the_first_extra_header(tmp_path):
    text = "".join(PROGRAM.format(label=f"p{i}", kind="user") for i in range(abi.NR_PROCS + 1))
    error = rejected(tmp_path, text)
    assert "too many programs: 65" in error.message
    assert error.line == 1 + 4 * abi.NR_PROCS


def test_empty_file_is_line_1(tmp_path):
    assert rejected(tmp_path, "").line == 1


def test_not_utf8_names_its_line(tmp_path):
    path = tmp_path / "system.toml"
    path.write_bytes(A.encode() + b'restart = "\xff"\n')
    with pytest.raises(PolicyError) as caught:
        load_system(path)
    assert caught.value.line == 5


def test_missing_system_file(tmp_path):
    with pytest.raises(PolicyError) as caught:
        load_system(tmp_path / "none.toml")
    assert str(caught.value) == f"{tmp_path / 'none.toml'}: cannot read: No such file or directory"


def test_defaults_by_kind(tmp_path):
    kinds = ("driver", "server", "user")
    text = "\n".join(PROGRAM.format(label=kind[0], kind=kind) for kind in kinds)
    config = load_system(system(tmp_path, text))
    assert isinstance(config, SystemConfig) and config.text == text
    assert [p.label for p in config.programs] == ["d", "s", "u"]
    priorities = [abi.DEFAULT_PRIORITY_DRIVER, abi.DEFAULT_PRIORITY_SERVER,
                  abi.DEFAULT_PRIORITY_USER]
    for program, priority, restart, line in zip(config.programs, priorities,
                                                ("always", "always", "never"), (1, 6, 11)):
        assert program.priority == priority and program.restart == restart
        assert program.quantum == abi.DEFAULT_QUANTUM and program.heartbeat == 0
        assert program.ipc == frozenset() and program.kernel_calls == frozenset()
        assert program.targets == () and program.io == () and program.irq == ()
        assert program.source == tmp_path / "a.asm" and program.source.is_absolute()
        assert program.line == line and not program.prebuilt


def test_every_field(tmp_path):
    text = A + ('ipc = ["SEND", "NOTIFY", "SEND"]\ntargets = ["CLOCK", "a", "SYSTEM"]\n'
                'kernel_calls = ["DEVIO", "SETALARM"]\nio = ["0x3F8-0x3FF", "0xab", "0x0-0xFFFF"]\n'
                'irq = [7, 4, 7]\npriority = 0\nquantum = 1\nheartbeat = 10\nrestart = "backoff"\n')
    (program,) = load_system(system(tmp_path, text)).programs
    assert program.ipc == frozenset({abi.SEND, abi.NOTIFY})
    assert program.targets == ("SYSTEM", "CLOCK", "a")
    assert program.kernel_calls == frozenset({abi.SYS_DEVIO, abi.SYS_SETALARM})
    assert program.io == ((0x3F8, 0x3FF), (0xAB, 0xAB), (0, 0xFFFF))
    assert program.irq == (4, 7)
    assert (program.priority, program.quantum, program.heartbeat, program.restart) == \
        (0, 1, 10, "backoff")


def test_prebuilt_source(tmp_path):
    text = '[[program]]\nlabel = "b"\nsource = "b.elf"\nkind = "user"\n'
    (program,) = load_system(system(tmp_path, text)).programs
    assert program.prebuilt and program.source == tmp_path / "b.elf"


def test_all_and_all_sys_expand_in_a_stable_order(tmp_path):
    text = (PROGRAM.format(label="u", kind="user") + 'targets = ["ALL"]\n' +
            PROGRAM.format(label="d", kind="driver") + 'targets = ["u", "ALL_SYS", "SYSTEM"]\n' +
            PROGRAM.format(label="s", kind="server") + 'targets = ["s", "HARDWARE", "u"]\n')
    u, d, s = load_system(system(tmp_path, text)).programs
    assert u.targets == ("HARDWARE", "SYSTEM", "CLOCK", "u", "d", "s")
    assert d.targets == ("HARDWARE", "SYSTEM", "CLOCK", "u", "d", "s")
    assert s.targets == ("HARDWARE", "u", "s")        # image order, not list order
    only_sys = load_system(system(tmp_path, text.replace('"u", "ALL_SYS", "SYSTEM"',
                                                         '"ALL_SYS"'))).programs[1]
    assert only_sys.targets == ("HARDWARE", "SYSTEM", "CLOCK", "d", "s")


def test_dict_round_trip(tmp_path):
    text = (A + 'ipc = ["SENDREC", "RECEIVE"]\ntargets = ["ALL_SYS"]\nkernel_calls = ["EXIT"]\n'
            'io = ["0xab-0xad", "0x3F8"]\nirq = [7]\nheartbeat = 5\n\n' +
            PROGRAM.format(label="b", kind="user"))
    config = load_system(system(tmp_path, text))
    tables = [program.to_dict() for program in config.programs]
    assert tables[0]["io"] == ["0xAB-0xAD", "0x3F8"] and tables[0]["source"] == "a.asm"
    assert tables[0]["ipc"] == ["RECEIVE", "SENDREC"] and tables[0]["line"] == 1
    assert programs_from_dicts(tables, tmp_path, "img") == config.programs
    kinds = {"a": "driver", "b": "user"}
    assert ProgramPolicy.from_dict(tables[1], kinds, tmp_path) == config.programs[1]


@pytest.mark.parametrize("change, fragment", [
    ({"ipc": ["FLOOD"]}, "unknown primitive 'FLOOD'"),
    ({"targets": ["ghost"]}, "unknown target 'ghost'"),
    ({"priority": 99}, "priority 99 out of range"),
    ({"extra": 1}, "unknown key 'extra'"),
    ({"line": "7"}, "with its line"),
    ({"label": "b"}, "duplicate label 'b'"),
])
def test_stored_policies_are_checked_again(tmp_path, change, fragment):
    text = A + '\n' + PROGRAM.format(label="b", kind="user")
    tables = [program.to_dict() for program in load_system(system(tmp_path, text)).programs]
    tables[0].update(change)
    with pytest.raises(PolicyError) as caught:
        programs_from_dicts(tables, tmp_path, "img")
    assert str(caught.value).startswith("img: ") and fragment in str(caught.value)


@pytest.mark.parametrize("tables", [[], "x", [1], [{"label": "a"}] * 2])
def test_stored_system_shapes(tables):
    with pytest.raises(PolicyError):
        programs_from_dicts(tables, "/", "img")


def test_stock_system():
    """guest/system.toml: the stock OS in boot order, each program with least privilege."""
    programs = load_system(ROOT / "guest" / "system.toml").programs
    assert [p.label for p in programs] == ["rs", "ds", "pm", "vfs", "tty", "printer", "disk",
                                           "init", "hello", "cat", "lp", "cp", "ps",
                                           "workload"]
    by = {p.label: p for p in programs}
    calls = lambda *names: frozenset(abi.KERNEL_CALL_BY_NAME[n] for n in names)
    prims = lambda *names: frozenset(abi.PRIMITIVE_BY_NAME[n] for n in names)
    for program in programs:
        assert program.source_spec == {"server": "servers", "driver": "drivers",
                                       "user": "user"}[program.kind] + f"/{program.label}.asm"
    # servers: only RS and PM start and end processes; VFS alone copies user memory
    assert [p.label for p in programs if p.kind == "server"] == ["rs", "ds", "pm", "vfs"]
    assert by["rs"].kernel_calls == calls("GETINFO", "SPAWN", "KILL", "SETALARM", "TIMES")
    assert by["ds"].kernel_calls == frozenset() and by["ds"].targets == ()
    assert by["pm"].kernel_calls == calls("SPAWN", "KILL", "GETINFO")
    assert by["pm"].targets == ("SYSTEM",)
    assert by["vfs"].kernel_calls == calls("SETGRANT", "VIRCOPY", "GETINFO")
    assert abi.SEND not in by["vfs"].ipc                   # never a blocking SEND
    for server in ("rs", "ds", "pm", "vfs"):
        assert (by[server].io, by[server].irq, by[server].heartbeat) == ((), (), 0)
    # drivers: their own ports (and IRQ), kernel calls and RS, replies never blocking
    device_calls = calls("DEVIO", "VDEVIO", "SDEVIO", "IRQCTL", "SAFECOPYFROM", "SAFECOPYTO")
    for driver, ports, irqs in (("tty", (0x3F8, 0x3FF), (4,)), ("printer", (0xAB, 0xAD), ()),
                                ("disk", (0x1F0, 0x1F7), ())):
        program = by[driver]
        assert program.kind == "driver"
        assert program.ipc == prims("RECEIVE", "NBSEND", "SENDREC", "NOTIFY", "ASEND")
        assert program.targets == ("SYSTEM", "rs")
        assert (program.io, program.irq) == ((ports,), irqs)
        assert abi.SYS_DEVIO in program.kernel_calls <= device_calls
        assert program.heartbeat > 0
    # users: calls to PM and VFS only; ps reads the process table
    for user in ("init", "hello", "cat", "lp", "cp", "ps", "workload"):
        program = by[user]
        assert (program.kind, program.ipc) == ("user", prims("SENDREC"))
        assert (program.io, program.irq) == ((), ())
        if user == "ps":
            assert program.targets == ("SYSTEM", "pm", "vfs")
            assert program.kernel_calls == calls("GETINFO")
        else:
            assert program.targets == ("pm", "vfs")
            assert program.kernel_calls == frozenset()
