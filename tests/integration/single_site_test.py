"""The main() of the integration tests that run one scenario on
topologies/single_site.py's SingleSite: options, preflight (root, OVS,
Mininet, the tools built), the site, the body, and every check reported
whatever happens (one that was not reached fails with the reason)."""

import os
import sys
import time

import catslib
import cats_workload as cw
from single_site import SingleSite


def main(doc, checks, body, **site_kwargs):
    """Runs body(t, site) on a SingleSite built with 'site_kwargs' (and one
    client); 'doc' is the test's docstring, 'checks' its check names.
    Returns the exit status."""
    t = catslib.Test(doc.splitlines()[0], checks)
    args = catslib.parse_args(t.description)
    reason = catslib.preflight(args)
    if not reason and args.static:
        reason = "needs the controller and its agents (no --static)"
    if not reason:
        reason = catslib.cats_site.preflight(os.path.dirname(args.controller),
                                             cw.TOOLS)
    if reason:
        for name in checks:
            t.skip(name, reason)
        return 0
    with catslib.TempDir(keep=args.keep) as tmp:
        try:
            with SingleSite(tmp, n_clients=1,
                            build_dir=os.path.dirname(args.controller),
                            log_level="info" if args.verbose
                            else "warning", **site_kwargs) as s:
                body(t, s)
                if t.failed() or args.verbose:
                    print(s.ctl.log_tail(30), file=sys.stderr)
        except Exception as e:
            import traceback
            traceback.print_exc()
            detail = "not reached: %s: %s" % (type(e).__name__, e)
            for name in checks:
                if name not in t.reported:
                    t.check(name, False, detail)
                    detail = "an earlier step failed"
    for name in checks:
        if name not in t.reported:
            t.check(name, False, "not reported by the test")
    print("# %s: %.1f s" % (os.path.basename(sys.argv[0]),
                            time.monotonic() - t.t0), file=sys.stderr)
    return 1 if t.failed() else 0
