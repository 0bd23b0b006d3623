"""Layer the v2 clients' environment over the main one: a .pth file that adds the main environment's packages
after this one's, so azure-ai-projects 2.x (here) wins over 1.x (there) and everything else is shared.

Usage (make does this): ``.venv-v2clients/bin/python tests/v2clients/layer.py <main site-packages>``.
"""

import sys
import sysconfig
from pathlib import Path

base = Path(sys.argv[1]).resolve()
target = Path(sysconfig.get_paths()["purelib"], "_layered_over_main_venv.pth")
target.write_text(f"import site; site.addsitedir({str(base)!r})\n")
