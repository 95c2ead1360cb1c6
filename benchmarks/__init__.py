"""asv benchmarks for recnumba (see ``asv.conf.json``); ``results.py`` prints the README tables."""
