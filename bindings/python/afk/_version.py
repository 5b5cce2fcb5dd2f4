"""afk._version - the version of this package (that of libafk it was
released with; tests/python/test_package.py holds it to configure.ac)."""

__version__ = "1.1.0"
