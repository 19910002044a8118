"""slr-fused: skeleton-based sign language recognition (SiFormer + BMHCMA + CMCL).

The ``slr/`` folder of the repository is the import package ``slr_fused``; the other
top-level folders are its subpackages (``kernels/`` -> ``slr_fused.kernels``,
``export/`` -> ``slr_fused.export``, ``bench/`` -> ``slr_fused.bench``), so installing us
never shadows the unrelated PyPI distributions called ``kernels``, ``export`` or ``bench``.
"""

__version__ = "0.1.0"
