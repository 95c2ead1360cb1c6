"""Distribution families: one module each (kernels + container + numpy reference), plugged into the
search core through ``protocol``. Importing this package registers every built-in pair.

| target   | prior    | module    |
|----------|----------|-----------|
| Gaussian | Gaussian | gaussian  |
| Laplace  | Laplace  | laplace   |
| Uniform  | Uniform  | uniform   |
| Uniform  | Gaussian | uniform   |
"""

from recnumba.families.base import Family, Pair, dinf_bits, kl_bits, pair_of, register_pair, supported_pairs
from recnumba.families.gaussian import Gaussian
from recnumba.families.laplace import Laplace
from recnumba.families.uniform import Uniform

__all__ = ["Family", "Gaussian", "Laplace", "Pair", "Uniform", "dinf_bits", "kl_bits", "pair_of", "register_pair", "supported_pairs"]
