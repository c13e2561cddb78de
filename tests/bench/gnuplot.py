"""One gnuplot run for the benches that draw (steer.py, sites.py)."""

import os
import shutil
import subprocess


def render(out_dir, name, lines, png, dat):
    """Writes 'lines' as OUT_DIR/NAME.gp and runs gnuplot on it.  Returns
    (png, None), or (None, why) when gnuplot is missing or fails."""
    script = os.path.join(out_dir, name + ".gp")
    with open(script, "w") as f:
        f.write("\n".join(lines) + "\n")
    if not shutil.which("gnuplot"):
        return None, "gnuplot not installed (data in %s)" % dat
    p = subprocess.run(["gnuplot", script], capture_output=True, text=True)
    if p.returncode != 0:
        return None, "gnuplot failed: %s" % p.stderr.strip()[:300]
    return png, None
