"""The guest toolchain: i386 assembly sources to programs and ELF32 files.

Public face:
  assemble(path, text_base, data_base, predefined={}, include_dirs=None, timeout=20.0,
           text=None) -> Program          (tools.asm.assembler)
  write_elf(program, path)                (tools.asm.elfwrite)
  AsmError: `file:line: message` for every error in a guest source.
"""
from tools.asm.assembler import DEFAULT_INCLUDE_DIRS, Program, assemble
from tools.asm.elfwrite import write_elf
from tools.asm.preprocess import AsmError

__all__ = ["AsmError", "DEFAULT_INCLUDE_DIRS", "Program", "assemble", "write_elf"]
