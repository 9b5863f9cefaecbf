"""The simulated kernel: one module per part of ``mm/``, wired together by :mod:`.machine`.

Modules here import each other and the leaves of :mod:`kvalloc` (constants, flags, errors,
config) only; never the :class:`kvalloc.Kernel` facade, the allocator layer, the containers
or the applications.
"""
