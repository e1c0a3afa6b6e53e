"""Build the one C extension of the package (the instruction counter and trap hook); the rest is in
pyproject.toml."""
from setuptools import Extension, setup

setup(ext_modules=[Extension("emu._cpuhooks", sources=["emu/_cpuhooks.c"])])
