"""Worked data structures on the simulated kernel memory of :mod:`kvalloc`.

Each module builds one classic structure on a container of :mod:`containers` and prints,
from its ``main()``, every allocator event its growth caused (examples/README.md):

- :mod:`examples.binary_heap`: a binary min-heap on ``KVec`` (krealloc);
- :mod:`examples.ring_deque`: a ring-buffer deque on ``VVec`` (vrealloc);
- :mod:`examples.hash_map`: an open-addressing hash map on ``KVVec`` (kvrealloc);
- :mod:`examples.linked_list`: a singly linked list of ``KBox`` nodes (kmalloc / kfree).

Run one with ``python -m examples.binary_heap`` (or ``python examples/binary_heap.py``).
"""
