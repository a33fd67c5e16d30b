"""Natural sequence tasks of Martens & Sutskever (2011, Table 1): bouncing balls, music, speech."""
