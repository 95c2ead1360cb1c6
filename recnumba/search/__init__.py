"""The search core (``core``), the exact/ORC/auto policy (``policy``) and their parameter structs
(``params``), generic over distribution families and shared by every backend."""
