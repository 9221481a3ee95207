"""luxit-ray: LuxIT-style instruction data, fine-tuning and evaluation at corpus scale on Ray."""

__version__ = "0.1.0"
