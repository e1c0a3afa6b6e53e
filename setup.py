"""Build the one C extension of the package (the instruction counter); the rest is in
pyproject.toml."""
from setuptools import Extension, setup

setup(ext_modules=[Extension("emu._icount", sources=["emu/_icount.c"])])
