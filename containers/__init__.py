"""Rust-for-Linux style containers (``KVec``, ``VVec``, ``KVVec``, ``KBox``, ...) whose bytes
live in the simulated kernel memory of :mod:`kvalloc`."""
