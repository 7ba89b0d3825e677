# Cython interface of velox._records: downstream Cython can cimport these classes and read or
# fill the C struct directly (``txn.c.price``), without Python-level attribute access.
from velox.includes.types cimport vx_txn, vx_bundle

cdef class Transaction:
    cdef vx_txn c

cdef class Bundle:
    cdef vx_bundle c

# Wrap a C record in a new Python object (copies 32 / 528 bytes).
cdef Transaction transaction_from_c(const vx_txn *txn)
cdef Bundle bundle_from_c(const vx_bundle *bundle)
